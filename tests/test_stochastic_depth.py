"""Dropout with noise_shape=(None, 1, 1, 1) (EfficientNet's stochastic depth): the dropout kind's
``noise_shape``, one draw per sample; torch's StochasticDepth module (torchvision's mode="row").
By hand, through both importers, and a whole sample dropped together."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from framework.pytorch.stochastic_depth import StochasticDepth
from parity.runners.pool import keras_worker
from parity.spec.torch_import import import_torch
from scratch.dropout import Dropout


def test_one_draw_per_sample_by_hand():
    layer = Dropout(0.5, rng=np.random.default_rng(3), noise_shape=(1, 1, 1))
    layer.training = True
    X = np.ones((8, 2, 2, 3))
    Z = layer.forward(X)
    per_sample = Z.reshape(8, -1)
    assert all(len(set(row)) == 1 for row in per_sample)  # each sample kept (2.0) or dropped (0.0) whole
    assert set(per_sample[:, 0]) == {0.0, 2.0}
    assert np.array_equal(layer.backward(X), Z)  # dX = dZ * M / (1 - rate)


def test_other_noise_shapes_are_refused_in_one_line():
    with pytest.raises(ValueError, match="noise_shape must be None or all ones") as error:
        Dropout(0.5, noise_shape=(1, 1, 3))
    assert len(str(error.value).splitlines()) == 1


def test_torch_stochastic_depth_drops_whole_samples_and_imports():
    module = StochasticDepth(0.5).train()
    torch.manual_seed(0)
    Y = module(torch.ones(16, 3, 2, 2)).reshape(16, -1)
    assert all(len(set(row.tolist())) == 1 for row in Y)
    spec = import_torch(nn.Sequential(nn.Conv2d(3, 4, 1), StochasticDepth(0.2)), (3, 4, 4))
    assert (spec.nodes[1].kind, spec.nodes[1].config) == ("dropout", {"rate": 0.2, "noise_shape": [1, 1, 1]})


def test_keras_importer_reads_noise_shape():
    configs = keras_worker("torch").call("tests.test_stochastic_depth:keras_configs")
    assert configs == [{"rate": 0.2, "noise_shape": [1, 1, 1]}, {"rate": 0.5, "noise_shape": None}]


def keras_configs() -> list[dict]:  # in a Keras worker
    import keras

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Dropout(0.2, noise_shape=(None, 1, 1, 1))(inputs)
    outputs = keras.layers.Dropout(0.5)(x)
    return [n.config for n in import_keras(keras.Model(inputs, outputs)).nodes]
