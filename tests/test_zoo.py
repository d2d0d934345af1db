"""`parity zoo`: a real keras.applications architecture ported to torch and back and agreeing, an
architecture with a layer the registry lacks reported by that layer's Keras class and name, bad
input refused in one line, and a zoo report that says so when a port disagrees."""

from __future__ import annotations

import json

import pytest

from parity.cli import main
from parity.tolerance import TRAJECTORY_FLOAT64_REL, tolerance
from parity.zoo import ZooRow, markdown, missing_kind

SMALLEST = "VGG16"  # the smallest architecture the registry covers: 13 Conv2D, 5 MaxPooling2D, 3 Dense


@pytest.fixture(scope="module", autouse=True)
def one_worker():
    """The Keras workers are kept for the module. ``run_architecture`` ends every worker after each
    architecture, so that a long zoo run gives each one's memory back; here each run is a small stand-in
    model, and starting the keras-torch worker again (importing Keras and torch) was most of each
    test's CPU time. What is compared is unchanged; tests/test_zoo_families.py does the same."""
    import parity.runners.pool as pool

    patch = pytest.MonkeyPatch()
    patch.setattr(pool, "close_all", lambda: None)
    yield
    patch.undo()


@pytest.mark.zoo
def test_the_smallest_architecture_agrees_both_ways(tmp_path, capsys):
    """float64 only and no training steps, to keep it short (the full run: ``parity zoo VGG16``)."""
    out = tmp_path / "zoo"
    code = main(["zoo", SMALLEST, "--out", str(out), "--dtype", "float64", "--steps", "0"])
    assert code == 0, capsys.readouterr().out
    (row,) = json.loads((out / "zoo.json").read_text())
    assert row["status"] == "agree" and row["input_size"] == 32, row
    assert {(c["stage"], c["dtype"]) for c in row["comparisons"]} == {("torch", "float64"), ("keras", "float64")}
    assert all(c["quantities"] > 40 for c in row["comparisons"])  # outputs, the input gradient, 32 gradients, weights
    assert row["worst"]["float64"] <= tolerance("float64")
    assert "| VGG16 | 32 |" in (out / "zoo.md").read_text()
    assert "<table id='zoo'>" in (out / "zoo.html").read_text()


UNSUPPORTED_SOURCE = '''
import keras


def build():  # every keras.applications architecture imports now; an UpSampling2D has no kind yet
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="stem")(inputs)
    x = keras.layers.UpSampling2D(name="up")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="predictions")(x))
'''


def test_a_missing_kind_is_named_and_the_run_goes_on(tmp_path, capsys, monkeypatch):
    """The architecture's source.py replaced by a model with a layer the registry lacks (no
    keras.applications architecture has one any more): the row names its class and layer."""
    import parity.zoo

    monkeypatch.setattr(parity.zoo, "factory_source", lambda name, size, branch_scale=1.0: UNSUPPORTED_SOURCE)
    out = tmp_path / "zoo"
    code = main(["zoo", "VGG16", "--out", str(out)])
    assert code == 0, capsys.readouterr().out
    (row,) = json.loads((out / "zoo.json").read_text())
    assert row["status"] == "unsupported" and row["missing"] == "UpSampling2D 'up'", row
    assert row["parameters"] == 3 * 3 * 3 * 4 + 4 + 4 * 10 + 10 and row["layers"] == 5
    assert "missing kind: UpSampling2D 'up'" in (out / "zoo.md").read_text()


SATURATED_SOURCE = '''
import keras


def build():  # logits apart by {spread} per class: a spread of 1000 underflows every exp but the largest
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, name="stem")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    bias = keras.initializers.Constant([{spread} * i for i in range(10)])
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", bias_initializer=bias, name="predictions")(x))
'''


def _zoo_row_of(source: str, tmp_path, capsys, monkeypatch, steps: int = 0):
    """``parity zoo`` (float64, ``steps`` steps) on a model built by ``source`` in place of an architecture:
    exit code, its one row, what it printed, the output folder."""
    import parity.zoo

    monkeypatch.setattr(parity.zoo, "factory_source", lambda name, size, branch_scale=1.0: source)
    out = tmp_path / "zoo"
    code = main(["zoo", "VGG16", "--out", str(out), "--dtype", "float64", "--steps", str(steps)])
    printed = capsys.readouterr().out
    (row,) = json.loads((out / "zoo.json").read_text())
    return code, row, printed, out


@pytest.mark.parametrize("spread, expected", [(1000.0, "degenerate"), (1.0, "agree")])
def test_a_saturated_softmax_is_degenerate_not_agree(spread, expected, tmp_path, capsys, monkeypatch):
    """A softmax head whose logits are apart by 1000 is exactly one-hot in float64, its Jacobian exactly
    zero: every gradient of source, port and round trip is 0, every record "passes", and nothing was
    compared. The row says so instead of "agree" and the run exits 1; the same model with logits apart
    by 1 agrees (so the verdict is the gradients', not the model's)."""
    code, row, printed, out = _zoo_row_of(SATURATED_SOURCE.format(spread=spread), tmp_path, capsys, monkeypatch)
    assert row["status"] == expected, row
    assert code == (1 if expected == "degenerate" else 0), printed
    if expected == "degenerate":
        assert all(c["degenerate"] and not c["agree"] for c in row["comparisons"]), row["comparisons"]
        assert "every gradient of the reference is zero" in row["detail"] and "softmax saturated" in row["detail"]
        assert "0 of 1 agree, 0 disagree, 1 degenerate" in (out / "zoo.md").read_text()
    else:
        assert not any(c["degenerate"] for c in row["comparisons"]) and row["worst"]["float64"] <= tolerance("float64")


# Layers of the chaotic stand-ins. Gain 8, seed 0 (keras.utils.set_random_seed), Keras on torch in float64
# against the same layers in NumPy, which sum in another order: the logits part by a relative 4.1e-3 after
# 15 layers, 4.9e-2 after 20, 0.64 after 25, 0.69 after 30 and 1.3 after 60. Thirty is past order one, and
# every layer is a fixed cost of each port (graph capture, generated code, weight conversion), so not sixty.
DEPTH = 30

CHAOTIC_SOURCE = '''
import keras


def build():  # {depth} tanh layers of gain {gain}: a large gain amplifies a difference with every layer (chaos), 0.5 shrinks it
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(inputs)
    x = keras.layers.Dense(64, activation="tanh", kernel_initializer=keras.initializers.RandomNormal(stddev=4.0), name="d0")(x)
    for i in range(1, {depth}):
        kernel = keras.initializers.RandomNormal(stddev={gain} / 8)  # gain / sqrt(64 inputs)
        x = keras.layers.Dense(64, activation="tanh", kernel_initializer=kernel, name=f"d{{i}}")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="predictions")(x))
'''


def _plant_a_wrong_weight(monkeypatch):
    """Every compared model B (the port, the round trip) runs with one weight moved by a relative 1e-6."""
    import parity.ports

    own = parity.ports._own

    def planted(side, X, G, dtype):
        result, weights = own(side, X, G, dtype)
        if side.label != "b":
            return result, weights
        name = sorted(weights)[0]
        weights = {**weights, name: weights[name] * (1 + 1e-6)}
        return side.run(X, G, weights, dtype), weights

    monkeypatch.setattr(parity.ports, "_own", planted)


@pytest.mark.parametrize(
    "gain, planted, expected", [(8.0, False, "ill-conditioned"), (8.0, True, "disagree"), (0.5, False, "agree")]
)
def test_a_chaotic_model_is_ill_conditioned_not_disagree(gain, planted, expected, tmp_path, capsys, monkeypatch):
    """Thirty tanh layers (``DEPTH``) of gain 8 amplify one rounding to a difference of order one: scratch, whose
    sums round in another order than torch's kernels, and the port (nn.Linear against Keras' matmul)
    differ from the source beyond the tolerance, and so does the source itself when its input moves
    by one ulp. The row says so and exits 1. A port with one wrong weight is still "disagree" there;
    the same model with gain 0.5 agrees (so the verdict is the model's condition, not its shape)."""
    if planted:
        _plant_a_wrong_weight(monkeypatch)
    code, row, printed, out = _zoo_row_of(CHAOTIC_SOURCE.format(gain=gain, depth=DEPTH), tmp_path, capsys, monkeypatch)
    assert row["status"] == expected, row
    assert code == (0 if expected == "agree" else 1), printed
    assert row["inference"] == expected and row["training"] is None, row  # no steps: inference is the verdict
    if expected == "disagree":
        assert not any(c["ill_conditioned"] for c in row["comparisons"]), row["comparisons"]
    elif expected == "ill-conditioned":
        assert all(c["ill_conditioned"] and not c["agree"] for c in row["comparisons"]), row["comparisons"]
        assert "ill-conditioned: a one-ulp perturbation of the source's" in row["detail"], row["detail"]
        assert "1 ill-conditioned" in (out / "zoo.md").read_text()
    else:
        assert not any(c["ill_conditioned"] for c in row["comparisons"]) and row["worst"]["float64"] <= tolerance("float64")


DROPOUT_SOURCE = '''
import keras


def build():  # CHAOTIC_SOURCE with a BatchNormalization, a Dropout per sample (stochastic depth) and one per entry
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(inputs)
    x = keras.layers.Dense(64, activation="tanh", kernel_initializer=keras.initializers.RandomNormal(stddev=4.0), name="d0")(x)
    for i in range(1, {depth}):
        kernel = keras.initializers.RandomNormal(stddev={gain} / 8)
        x = keras.layers.Dense(64, activation="tanh", kernel_initializer=kernel, name=f"d{{i}}")(x)
        if i == {depth} // 2:  # a residual branch dropped per sample (stochastic depth), as in EfficientNet's blocks
            branch = keras.layers.Dense(64, activation="tanh", kernel_initializer=kernel, name="branch")(x)
            branch = keras.layers.Dropout(0.5, noise_shape=(None, 1), name="drop_sample")(branch)
            x = keras.layers.Add(name="add")([x, branch])
    # last, not first: over a batch of 2 a training-mode BatchNormalization keeps of each feature only the
    # sign and size of the two samples' difference, so at the input it would erase a one-ulp move
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.Dropout(0.25, name="drop_entry")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="predictions")(x))
'''


def _scale_the_ports_dropout_wrong(monkeypatch):
    """The torch port's nn.Dropout keeps an entry with 1 / (1 - p/2) instead of 1 / (1 - p): a formula that
    differs in training only (inference is the identity)."""
    import torch.nn.functional as F
    from torch import nn

    def forward(self, x):
        return F.dropout(x, self.p, self.training) * ((1 - self.p) / (1 - self.p / 2) if self.training else 1.0)

    monkeypatch.setattr(nn.Dropout, "forward", forward)


def _rerun_with_other_masks(monkeypatch):
    """The source's reruns draw other masks than its judged run (their generators not seeded)."""
    import parity.ports

    retrain = parity.ports._retrain

    def unseeded(side, request, inputs, two_pass):
        return retrain(side, type(request)(**{**request.__dict__, "mask_seed": None}), inputs, two_pass)

    monkeypatch.setattr(parity.ports, "_retrain", unseeded)


@pytest.mark.parametrize(
    "gain, planted, expected",
    [
        (8.0, None, "ill-conditioned"),
        (8.0, "weight", "disagree"),
        (8.0, "other masks", "disagree"),
        (0.5, "formula", "disagree"),
        (0.5, None, "agree"),
    ],
)
def test_a_step_with_dropout_is_judged_by_its_own_one_ulp_move(gain, planted, expected, tmp_path, capsys, monkeypatch):
    """Source and port draw their own masks, so each trains against scratch replaying them. Every rerun
    of the source's step is seeded as its judged run was (``TrainRequest.mask_seed``) and draws the same
    masks, so one ulp of input is all that moves: on the chaotic model that move exceeds the trajectory
    tolerance and the row is "ill-conditioned". A wrong weight held by the port, or reruns that draw
    other masks (no move measured), leave it "disagree"; so does a port whose Dropout scales by another
    factor on a well-conditioned model, which agrees as written."""
    if planted == "weight":
        _plant_a_wrong_weight(monkeypatch)
    elif planted == "other masks":
        _rerun_with_other_masks(monkeypatch)
    elif planted == "formula":
        _scale_the_ports_dropout_wrong(monkeypatch)
    code, row, printed, _ = _zoo_row_of(DROPOUT_SOURCE.format(gain=gain, depth=DEPTH), tmp_path, capsys, monkeypatch, steps=1)
    assert row["status"] == expected, row
    assert code == (0 if expected == "agree" else 1), printed
    (ported,) = [c for c in row["comparisons"] if c["stage"] == "torch"]
    # Each part on its own. Gain 8 is chaotic at inference too (one ulp of input moves the logits by ~4e-8);
    # a port holding a wrong weight fails both parts; reruns that measure no step move leave the whole
    # comparison unexplained, so its inference part reads "disagree" too (a part is never judged better
    # than the comparison's judgment); the wrong dropout scale shows only in training.
    assert row["training"] == expected, row
    inference = {(8.0, None): "ill-conditioned", (0.5, "formula"): "agree", (0.5, None): "agree"}
    assert row["inference"] == inference.get((gain, planted), "disagree"), row
    if expected == "ill-conditioned":
        assert ported["ill_conditioned"] and "moves its training steps" in ported["ill_conditioned"], ported
        zoo_md = (tmp_path / "zoo" / "zoo.md").read_text()
        assert "every parameter gradient and weight, both ways): 1 ill-conditioned. Training steps: 1 ill-conditioned." in zoo_md
    elif expected == "disagree":
        assert not ported["ill_conditioned"], ported
        assert ported["worst"] > TRAJECTORY_FLOAT64_REL, ported


OFFSET_SOURCE = '''
import keras


def build():  # a BatchNormalization of 2 values per channel (batch 2, features), whose inputs sit near {offset}
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = keras.layers.Dense(8, bias_initializer=keras.initializers.Constant({offset}), name="dense")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Dropout({rate}, name="dropout")(x)  # rate 0 draws no mask
    return keras.Model(inputs, keras.layers.Dense(10, name="predictions")(x))
'''

ONE_PASS = "keras_torch_batchnorm_one_pass_variance"


@pytest.mark.parametrize(
    "offset, rate, expected",
    [(1e4, 0.0, f"agree with rule {ONE_PASS}"), (1e4, 0.5, f"agree with rule {ONE_PASS}"), (0.0, 0.0, "agree")],
    ids=["offset", "offset-dropout", "no-offset"],
)
def test_the_one_pass_variance_is_agreement_with_its_rule_never_plain_agree(
    offset, rate, expected, tmp_path, capsys, monkeypatch
):
    """The source's step runs on Keras' torch backend, whose BatchNormalization variance is
    mean(X**2) - mean**2; the torch port and scratch subtract the mean first. With the BatchNorm's
    inputs near 1e4 the weights after one step part beyond the trajectory tolerance; the same step
    with two passes (parity.training.two_pass) agrees, so the row is "agree with rule", with both
    figures, and exits 0. With dropout the two-pass step draws other masks, which scratch replays
    (EfficientNetB0 read 4.6e3 when scratch replayed the first run's). Near 0 no rule is needed and
    the row is "agree"."""
    source = OFFSET_SOURCE.format(offset=offset, rate=rate)
    code, row, printed, out = _zoo_row_of(source, tmp_path, capsys, monkeypatch, steps=1)
    assert row["status"] == expected, row
    assert code == 0, printed
    assert row["training"] == expected and row["inference"] == "agree", row
    (ported,) = [c for c in row["comparisons"] if c["stage"] == "torch"]
    if offset:
        assert not ported["agree"] and ported["agree_with_rule"] and ported["rule"] == ONE_PASS, ported
        assert ported["worst"] > TRAJECTORY_FLOAT64_REL >= ported["worst_with_rule"], ported
        assert f"{ONE_PASS}: worst {ported['worst']:.2e} as shipped" in row["detail"], row["detail"]
        assert "1 agree only with a registered divergence's rule" in (out / "zoo.md").read_text()
        assert "class=\"row rule\"" in (out / "zoo.html").read_text()
    else:
        assert ported["agree"] and ported["rule"] is None, ported


def test_without_the_two_pass_measurement_the_one_pass_variance_disagrees(tmp_path, capsys, monkeypatch):
    """The rule is measured, not assumed: with the source's step re-run as shipped (one pass) instead of
    with two passes, nothing is explained and the row disagrees, naming no layer from the step's weights."""
    import parity.ports

    retrain = parity.ports._retrain
    monkeypatch.setattr(parity.ports, "_retrain", lambda side, request, inputs, two_pass: retrain(side, request, inputs, False))
    source = OFFSET_SOURCE.format(offset=1e4, rate=0.0)
    code, row, printed, _ = _zoo_row_of(source, tmp_path, capsys, monkeypatch, steps=1)
    assert row["status"] == "disagree" and code == 1, row
    (ported,) = [c for c in row["comparisons"] if c["stage"] == "torch"]
    assert ported["rule"] == ONE_PASS and not ported["agree_with_rule"], ported
    assert ported["first_divergence"] != "dense", ported  # not the first weight of the step records
    assert "training" in ported["located_by"], ported


def test_the_summary_counts_each_result_and_names_the_largest_peak():
    rows = [
        ZooRow("VGG16", 32, "agree", seconds=10.0, peak_mib=900.0),
        ZooRow("ConvNeXtTiny", 32, "agree", seconds=20.5, peak_mib=2500.0),
        ZooRow("EfficientNetV2L", 32, "degenerate", seconds=30.0, peak_mib=1200.0),
        ZooRow("NASNetLarge", 32, "error", seconds=1.0),
    ]
    line = markdown(rows, ("float64",)).strip().splitlines()[-1]
    assert line.startswith("2 of 4 agree, 0 disagree, 1 degenerate"), line
    assert "0 unsupported" in line and "1 error" in line
    assert "61.5 s in all" in line and "largest peak memory 2500 MiB (ConvNeXtTiny)" in line


@pytest.mark.parametrize(
    "message, missing",
    [
        ("model 'm', layer 'rescaling': unsupported Keras layer Rescaling; supported: Add", "Rescaling 'rescaling'"),
        (
            "model 'm', layer 'Conv1_relu': ReLU: ReLU with max_value, negative_slope or threshold (only the plain ReLU is supported)",
            "ReLU 'Conv1_relu' (ReLU with max_value, negative_slope or threshold (only the plain ReLU is supported))",
        ),
        ("worker died", None),
    ],
)
def test_missing_kind_reads_the_importers_error(message, missing):
    assert missing_kind(message) == missing


def test_a_disagreement_is_reported_with_its_first_diverging_layer():
    row = ZooRow(
        "VGG16",
        32,
        "disagree",
        10,
        3,
        ["conv2d"],
        {"float64": 1e-3},
        detail="torch float64: first diverging layer block1_conv1",
    )
    text = markdown([row], ("float64",))
    assert "1.00e-03" in text and "block1_conv1" in text and "0 of 1 agree" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["Nope"], "unknown architecture 'Nope'"),
        (["VGG16", "--input-size", "8"], "--input-size must be 32 or more"),
        (["VGG16", "--impl", "jax"], "--impl: unknown 'jax'"),
        (["VGG16", "--dtype", "float16"], "unknown dtype 'float16'"),
        (["EfficientNetB0", "ResNet50", "--branch-scale", "0.5"], "ResNet50 has none"),
        (["EfficientNetB0", "--branch-scale", "0"], "--branch-scale must be a positive number, received 0.0"),
        (["EfficientNetB0", "--branch-scale", "nan"], "--branch-scale must be a positive number, received nan"),
    ],
)
def test_bad_input_exits_2_in_one_line(argv, message, tmp_path, capsys):
    code = main(["zoo", *argv, "--out", str(tmp_path / "zoo")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "zoo").exists()


def test_nasnet_mobile_is_built_through_the_builder_its_application_calls():
    """keras.applications.NASNetMobile refuses the torch backend; the zoo's source calls NASNet with its arguments."""
    from parity.zoo import BUILDERS, factory_source

    source = factory_source("NASNetMobile", 32)
    compile(source, "source.py", "exec")
    assert "keras.src.applications.nasnet.NASNet(input_shape=(32, 32, 3), penultimate_filters=1056" in source
    assert "keras-team/keras#18451" in source and set(BUILDERS) == {"NASNetMobile"}
    assert "keras.applications.NASNetLarge(weights=None, input_shape=(32, 32, 3)" in factory_source("NASNetLarge", 32)


@pytest.mark.parametrize("name", ["EfficientNetV2L", "NASNetMobile"])
def test_every_architecture_is_compared_up_to_its_logits(name):
    """The same for every architecture, through keras.applications or a builder: a softmax head over
    logits spread by thousands (EfficientNetV2L, untrained) would make every gradient exactly 0."""
    from parity.zoo import factory_source

    assert factory_source(name, 32).count("classifier_activation=None)") == 1


class _Judged:
    """What ``parity.zoo._part`` reads of a ``parity.ports.Comparison``: its records and its judgments."""

    def __init__(self, passed: list[tuple[int, bool]], ill=None, degenerate=None, rule=None, agree_with_rule=False):
        import pandas as pd

        self.records = pd.DataFrame(
            [
                {"quantity": f"q{i}", "max_rel_err": 0.0 if ok else 1.0, "passed": ok, "step": step or None}
                for i, (step, ok) in enumerate(passed)
            ]
        )
        self.ill_conditioned, self.degenerate, self.rule, self.agree_with_rule = ill, degenerate, rule, agree_with_rule


@pytest.mark.parametrize(
    "passed, judged, inference, training",
    [
        ([(0, True), (1, False)], {"ill": "one ulp moves the steps"}, "agree", "ill-conditioned"),
        ([(0, True), (1, False)], {}, "agree", "disagree"),
        ([(0, False), (1, True)], {}, "disagree", "agree"),
        ([(0, False), (1, False)], {"ill": "one ulp"}, "ill-conditioned", "ill-conditioned"),
        ([(0, True), (1, False)], {"rule": "r", "agree_with_rule": True}, "agree", "agree with rule r"),
        ([(0, True)], {}, "agree", None),
        ([(0, True)], {"degenerate": "every gradient zero"}, "degenerate", None),
    ],
)
def test_each_part_is_judged_on_its_own_records(passed, judged, inference, training):
    """Inference-mode records (no step) and training-step records get their own verdicts: a step that one
    ulp moves leaves outputs and gradients that agree reading "agree", and a failure in either part is
    never read as agreement in that part."""
    from parity.zoo import _part, part_status

    comparison = _Judged(passed, **judged)
    assert _part(comparison, steps=False) == inference
    assert _part(comparison, steps=True) == training
    assert part_status([inference, "agree"]) == inference
    assert part_status([None, None]) is None


def test_the_report_counts_each_part():
    rows = [
        ZooRow("VGG16", 32, "agree", inference="agree", training="agree"),
        ZooRow("DenseNet121", 32, "ill-conditioned", inference="agree", training="ill-conditioned"),
        ZooRow("EfficientNetV2L", 32, "ill-conditioned", inference="ill-conditioned", training="ill-conditioned"),
        ZooRow("NASNetLarge", 32, "unsupported"),
    ]
    text = markdown(rows, ("float64",))
    assert (
        "both ways): 2 agree, 1 ill-conditioned, 1 not run. Training steps: 1 agree, 2 ill-conditioned, 1 not run."
        in text
    )
    assert "| 32 | - | - | - | - | 0.0 | - | agree | ill-conditioned | ill-conditioned |" in text, text


def _zoo_model(name: str, side: int, branch_scale: float = 1.0):
    """The architecture as the zoo's own source.py builds it (in a Keras worker)."""
    from parity.zoo import factory_source

    namespace: dict = {}
    exec(compile(factory_source(name, side, branch_scale), f"<{name} source>", "exec"), namespace)
    return namespace["build"]()


def _smallest_batchnorm_map(name: str, side: int) -> int:
    """The smallest spatial side of any BatchNormalization's output in the architecture built at ``side``
    (in a Keras worker)."""
    import keras

    model = _zoo_model(name, side)
    return min(
        layer.output.shape[1]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization) and len(layer.output.shape) == 4
    )


@pytest.mark.parametrize("name", ["MobileNetV2", "InceptionV3"])
def test_the_default_input_gives_every_batchnorm_maps_of_two_by_two(name):
    """At the smallest side each accepts the deepest BatchNormalization sees 1x1 maps (2 values per channel
    over a batch of 2 in training mode: a chaotic step); at ``DEFAULT_INPUT`` every one sees 2x2 or more."""
    from parity.runners.pool import keras_worker
    from parity.zoo import DEFAULT_INPUT, MIN_INPUT

    def smallest(side: int) -> int:
        return keras_worker("torch").call("tests.test_zoo:_smallest_batchnorm_map", name, side)

    assert smallest(MIN_INPUT[name]) == 1
    assert smallest(DEFAULT_INPUT[name]) >= 2


SMALL_SOURCE = '''
import keras


def build():  # a small stand-in at the side the zoo asks for
    inputs = keras.Input(({size}, {size}, 3))
    x = keras.layers.Flatten(name="flatten")(inputs)
    return keras.Model(inputs, keras.layers.Dense(10, name="predictions")(x))
'''


@pytest.mark.parametrize(
    "argv, side", [([], 64), (["--input-size", "40"], 40)], ids=["default", "input-size"]
)
def test_the_side_is_the_default_or_input_size(argv, side, tmp_path, capsys, monkeypatch):
    """Without ``--input-size`` an architecture with BatchNormalization runs at ``DEFAULT_INPUT`` (MobileNetV2:
    64, not its smallest 32); with it, at N: the source the zoo writes, the input it feeds and the row."""
    import parity.zoo

    asked = []
    monkeypatch.setattr(parity.zoo, "factory_source", lambda name, size, branch_scale=1.0: asked.append(size) or SMALL_SOURCE.format(size=size))
    out = tmp_path / "zoo"
    code = main(["zoo", "MobileNetV2", "--out", str(out), "--dtype", "float64", "--steps", "0", *argv])
    (row,) = json.loads((out / "zoo.json").read_text())
    assert code == 0 and row["status"] == "agree", row
    assert asked == [side] and row["input_size"] == side, (asked, row["input_size"])


def _batchnorm_gammas(name: str, side: int, branch_scale: float) -> dict[str, list[float]]:
    """The distinct gamma values of each BatchNormalization of the zoo's source, built in a Keras worker."""
    import keras
    import numpy as np

    model = _zoo_model(name, side, branch_scale)
    return {
        layer.name: sorted({float(g) for g in np.asarray(keras.ops.convert_to_numpy(layer.gamma))})
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }


def test_branch_scale_starts_each_residual_branch_last_batchnorm_at_gamma_times_c():
    """EfficientNetB0 with ``--branch-scale 0.5``: the gamma of ``<block>project_bn`` of every block that adds
    its input back is 0.5, every other BatchNormalization's is Keras' 1; without the option every one is 1."""
    from parity.runners.pool import keras_worker

    worker = keras_worker("torch")
    scaled = worker.call("tests.test_zoo:_batchnorm_gammas", "EfficientNetB0", 32, 0.5)
    plain = worker.call("tests.test_zoo:_batchnorm_gammas", "EfficientNetB0", 32, 1.0)
    branch_ends = {name for name, gamma in scaled.items() if gamma == [0.5]}
    # B0's blocks with a residual connection: 2b, 3b, 4b-c, 5b-c, 6b-d, 7 has one block (none)
    assert branch_ends == {f"block{b}_project_bn" for b in ("2b", "3b", "4b", "4c", "5b", "5c", "6b", "6c", "6d")}
    assert all(gamma == [1.0] for name, gamma in scaled.items() if name not in branch_ends), scaled
    assert all(gamma == [1.0] for gamma in plain.values()), plain


def test_branch_scale_reaches_the_source_and_the_report(tmp_path, capsys, monkeypatch):
    """``parity zoo EfficientNetB0 --branch-scale 0.5`` writes its source with the scale, records it in the row
    and says so above the table in zoo.md and zoo.html (a stand-in model in place of the architecture)."""
    import parity.zoo

    asked = []
    monkeypatch.setattr(
        parity.zoo,
        "factory_source",
        lambda name, size, branch_scale=1.0: asked.append(branch_scale) or SMALL_SOURCE.format(size=size),
    )
    out = tmp_path / "zoo"
    code = main(["zoo", "EfficientNetB0", "--out", str(out), "--dtype", "float64", "--steps", "0", "--branch-scale", "0.5"])
    (row,) = json.loads((out / "zoo.json").read_text())
    assert code == 0 and asked == [0.5] and row["branch_scale"] == 0.5, (asked, row)
    assert "Branch scale 0.5" in (out / "zoo.md").read_text()
    assert "id='scaled'>Branch scale 0.5" in (out / "zoo.html").read_text()
