"""Divergences that live in training, not in a layer: initialisation, clipping, the loss's input, sparse gradients.

Every registered case is run (naive caught, converted passing) by tests/test_divergences.py;
here: the maths of each mechanism by hand, and that each check fails for the reason given.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from framework.pytorch.optimizers import keras_clip_by_global_norm_, keras_clip_by_norm_
from parity.divergences import all_divergences
from parity.tolerance import TRAJECTORY_FLOAT64_REL, tolerance
from scratch import clipping
from scratch.dense import Dense
from tests.conftest import failures

NEW = ("default_initialisation", "gradient_clipping", "clip_grad_norm_epsilon", "from_logits", "from_logits_double_softmax", "tf_embedding_sparse_adam", "tf_from_logits_after_activation")


def test_the_training_cases_are_registered_and_cite_sources():
    registered = all_divergences()
    for name in NEW:
        d = registered[name]
        assert any(source in d.differs for source in ("torch/", "keras/")), name


# clipping ---------------------------------------------------------------------


def _grads():
    return {"a": np.array([3.0, 4.0]), "b": np.array([0.0, 12.0])}  # norms 5 and 12, global norm 13


def test_clipping_by_hand():
    per_variable = clipping.clip_by_norm(_grads(), 6.5)
    np.testing.assert_allclose(per_variable["a"], [3.0, 4.0], rtol=1e-15)  # norm 5 <= 6.5: untouched
    np.testing.assert_allclose(per_variable["b"], [0.0, 6.5], rtol=1e-15)
    by_global = clipping.clip_by_global_norm(_grads(), 6.5)  # one factor, 6.5 / 13
    np.testing.assert_allclose(by_global["a"], [1.5, 2.0], rtol=1e-15)
    np.testing.assert_allclose(by_global["b"], [0.0, 6.0], rtol=1e-15)
    torch_form = clipping.clip_grad_norm(_grads(), 6.5)
    np.testing.assert_allclose(torch_form["b"], [0.0, 12 * 6.5 / (13 + 1e-6)], rtol=1e-15)
    assert clipping.clip_by_value(_grads(), 3.5)["a"].tolist() == [3.0, 3.5]


def test_clipping_per_variable_and_global_differ():
    # What gradient_clipping catches: a different direction, not only a different length.
    per_variable, by_global = clipping.clip_by_norm(_grads(), 6.5), clipping.clip_by_global_norm(_grads(), 6.5)
    assert not np.allclose(per_variable["a"], by_global["a"])


def _torch_grads():
    params = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in range(2)]
    for p, g in zip(params, _grads().values()):
        p.grad = torch.tensor(g)
    return params


def test_torch_clip_grad_norm_is_the_global_norm_with_its_epsilon():
    params = _torch_grads()
    torch.nn.utils.clip_grad_norm_(params, 6.5)
    expected = clipping.clip_grad_norm(_grads(), 6.5)
    for p, g in zip(params, expected.values()):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-15, atol=0)
    # and it is not Keras' formula: the 1e-6 shows at ~1e-7 relative, far above float64 rounding
    keras = clipping.clip_by_global_norm(_grads(), 6.5)["b"][1]
    assert abs(params[1].grad[1].item() - keras) / keras > TRAJECTORY_FLOAT64_REL


def test_torch_helpers_take_keras_formulas():
    params = _torch_grads()
    keras_clip_by_global_norm_(params, 6.5)
    for p, g in zip(params, clipping.clip_by_global_norm(_grads(), 6.5).values()):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-15, atol=0)
    params = _torch_grads()
    for p in params:
        keras_clip_by_norm_(p, 6.5)
    for p, g in zip(params, clipping.clip_by_norm(_grads(), 6.5).values()):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-15, atol=0)


def test_clipping_that_never_acts_is_not_caught():
    # The gradient_clipping check fails because of clipping: with a bound no gradient reaches,
    # per-variable and global clipping train alike.
    d = all_divergences()["gradient_clipping"]
    from parity.divergences.training import TrainSide, TrainVariant

    loose = TrainVariant(
        TrainSide("torch", {**d.naive.a.optimizer, "global_clipnorm": 1e6}),
        TrainSide("scratch", {**d.naive.a.optimizer, "global_clipnorm": None, "clipnorm": 1e6, "torch_keras_clipping": False}),
    )
    records = d.run_variant(loose)
    assert records and all(r.passed for r in records), failures(records)
    tight = TrainVariant(
        TrainSide("torch", d.naive.a.optimizer),
        TrainSide("scratch", {**d.naive.a.optimizer, "global_clipnorm": None, "clipnorm": 0.25, "torch_keras_clipping": False}),
    )
    assert any(r.passed is False for r in d.run_variant(tight))


@pytest.mark.parametrize("option", [{"clipnorm": 0.25}, {"global_clipnorm": 0.25}, {"clipvalue": 0.05}])
def test_scratch_and_torch_clip_alike(option):
    from parity.train import train_case

    key, value = next(iter(option.items()))
    records, _ = train_case("mlp", "sgd", steps=10, impls=["torch"], dtypes=["float64"], overrides={key: value})
    assert records and all(r.passed for r in records), failures(records)


def test_two_clipping_options_are_refused():
    from parity.case import CaseError
    from parity.train import train_case

    with pytest.raises(CaseError, match="only one of clipnorm, global_clipnorm, clipvalue"):
        train_case("mlp", "sgd", steps=1, impls=["torch"], overrides={"clipnorm": 1.0, "clipvalue": 1.0})


# from_logits ------------------------------------------------------------------


def test_logits_read_as_probabilities_train_differently():
    # scratch's probability loss is Keras' (tests/test_scratch_dense.py); given logits it is the naive port.
    d = all_divergences()["from_logits"]
    from parity.divergences.training import TrainSide, TrainVariant

    naive = TrainVariant(d.naive.a, TrainSide("scratch", d.naive.b.optimizer, config={"from_logits": False}))
    assert any(r.passed is False for r in d.run_variant(naive))
    converted = TrainVariant(d.naive.a, TrainSide("scratch", d.naive.b.optimizer, config={"softmax": True, "from_logits": False}))
    records = d.run_variant(converted)
    assert records and all(r.passed for r in records), failures(records)


def _bce_with_logits(Z, T):
    from scratch.losses import BinaryCrossEntropyWithLogits

    return BinaryCrossEntropyWithLogits().forward(Z, T)


def test_tensorflow_losses_look_through_a_final_sigmoid():
    pytest.importorskip("tensorflow", reason="only Keras' TensorFlow backend reads _keras_logits")
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn as tf_nn

    Z = np.array([[0.5], [-1.5], [2.0], [-3.0]])
    T = np.array([[1.0], [0.0], [0.0], [1.0]])
    P = tf_nn.sigmoid(tf.constant(Z))  # carries P._keras_logits = Z
    with pytest.warns(UserWarning, match="from_logits=True"):
        seen = tf_nn.binary_crossentropy(tf.constant(T), P, from_logits=True).numpy().mean()
    # TensorFlow: the loss of the logits Z, as if the sigmoid were not there ...
    np.testing.assert_allclose(seen, _bce_with_logits(Z, T), rtol=tolerance("float64"))
    # ... every other implementation: the sigmoid applied twice, another loss altogether.
    twice = _bce_with_logits(1 / (1 + np.exp(-Z)), T)
    assert abs(seen - twice) / twice > 0.1
    # The same probabilities without the attribute (a plain tensor) are taken as logits.
    plain = tf_nn.binary_crossentropy(tf.constant(T), tf.constant(P.numpy()), from_logits=True).numpy().mean()
    np.testing.assert_allclose(plain, twice, rtol=tolerance("float64"))


def test_tensorflow_probability_loss_after_a_sigmoid_skips_the_clip():
    # The other direction, from_logits=False: TensorFlow also uses the logits, which agrees with
    # the probability formula up to rounding, until saturation, where the others clip p at 1 - 1e-7.
    pytest.importorskip("tensorflow", reason="only Keras' TensorFlow backend reads _keras_logits")
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn as tf_nn

    from scratch.losses import BinaryCrossEntropy

    T = np.zeros((1, 1))
    for z, clipped in ((2.0, False), (20.0, True)):
        Z = np.array([[z]])
        P = tf_nn.sigmoid(tf.constant(Z))
        seen = tf_nn.binary_crossentropy(tf.constant(T), P, from_logits=False).numpy().mean()
        np.testing.assert_allclose(seen, _bce_with_logits(Z, T), rtol=tolerance("float64"))
        # log(1 - p) from p: rounding amplified by 1 / (1 - p), nothing more
        rtol = tolerance("float64") / (1 - P.numpy().item())
        np.testing.assert_allclose(seen, BinaryCrossEntropy().forward(P.numpy(), T), rtol=rtol)
        clip = -np.log(1e-7)  # -log(1 - clip(p, 1e-7, 1 - 1e-7)): keras-jax, keras-torch
        assert (seen > clip + 1) == clipped


def test_only_tensorflow_forgives_the_extra_activation():
    # tf_from_logits_after_activation is caught because of TensorFlow: on keras-jax the same
    # naive port trains exactly like scratch (both apply the softmax twice), and the other form
    # of the rule (keep the softmax, from_logits=False) passes on TensorFlow too.
    d = all_divergences()["tf_from_logits_after_activation"]
    from parity.divergences.training import TrainSide, TrainVariant

    assert any(r.passed is False for r in d.run_variant(d.naive))
    on_jax = TrainVariant(d.naive.a, TrainSide("keras-jax", d.naive.b.optimizer, config=d.naive.b.config))
    records = d.run_variant(on_jax)
    assert records and all(r.passed for r in records), failures(records)
    probabilities = {"softmax": True, "from_logits": False}
    kept = TrainVariant(
        TrainSide("scratch", d.naive.a.optimizer, config=probabilities),
        TrainSide("keras-tensorflow", d.naive.b.optimizer, config=probabilities),
    )
    records = d.run_variant(kept)
    assert records and all(r.passed for r in records), failures(records)


def test_tracing_keeps_the_loss_tensorflow_computes():
    # inspect traces each layer through a zero probe, A + P; the probe keeps _keras_logits, or the
    # traced keras-tensorflow loss would be another loss than the untraced one (and than training's).
    from parity.cases import get_case
    from parity.check import make_request
    from parity.runners import run

    case = get_case("mlp")
    config = case.configure({"softmax": True, "from_logits": True})
    plain, traced = (run("keras-tensorflow", make_request(case, config, "float64", 0, trace=t)) for t in (False, True))
    scratch = run("scratch", make_request(case, config, "float64", 0))
    assert traced.loss == pytest.approx(plain.loss, rel=tolerance("float64"))
    assert abs(plain.loss - scratch.loss) / scratch.loss > 0.01  # TensorFlow skipped the softmax; scratch did not


# default initialisation -------------------------------------------------------


def test_each_framework_draws_from_its_own_distribution(rng):
    fan_in, fan_out = 400, 300
    torch.manual_seed(0)
    linear = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64)  # kaiming_uniform(a=sqrt(5)): U(+-1/sqrt(fan_in))
    assert linear.weight.std().item() == pytest.approx(1 / math.sqrt(3 * fan_in), rel=0.02)
    assert linear.bias.abs().max().item() <= 1 / math.sqrt(fan_in) and linear.bias.abs().max().item() > 0
    dense = Dense(fan_out)  # Keras' glorot_uniform and zeros
    dense.input_dim = fan_in
    dense.init(rng)
    assert dense.params["W"].std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.02)
    assert not dense.params["b"].any()


def test_own_initialisation_is_reproducible():
    # The naive default_initialisation error is the frameworks' different starts, not noise.
    d = all_divergences()["default_initialisation"]
    from parity.divergences.training import TrainVariant

    records = d.run_variant(TrainVariant(d.naive.a, d.naive.a))
    assert records and all(r.passed for r in records), failures(records)


# sparse gradients on TensorFlow -------------------------------------------------


def test_dense_gradients_sums_duplicate_ids():
    tf = pytest.importorskip("tensorflow", reason="tf_dense_indexed_slices only acts on the TensorFlow backend")
    from parity.convert.base import disabled_rules
    from parity.training.runners import _dense_gradients

    # The gradient of W[[0, 0, 1]] summed: one slice per lookup, row 0 twice, unsummed.
    slices = tf.IndexedSlices(tf.ones((3, 2), tf.float64), tf.constant([0, 0, 1]), tf.constant([4, 2]))
    (dense,) = _dense_gradients("tensorflow", [slices])
    np.testing.assert_array_equal(dense.numpy()[:, 0], [2.0, 1.0, 0.0, 0.0])
    # What Keras' Adam squares without the rule: each slice, so row 0 gets 1 + 1 in v, not 2**2.
    squared = tf.math.unsorted_segment_sum(tf.square(slices.values), slices.indices, 4).numpy()[:, 0]
    assert squared[0] == 2.0 and (dense.numpy() ** 2)[0, 0] == 4.0
    with disabled_rules(("tf_dense_indexed_slices",)):
        (kept,) = _dense_gradients("tensorflow", [slices])
    assert isinstance(kept, tf.IndexedSlices)
    assert _dense_gradients("jax", [slices])[0] is slices
