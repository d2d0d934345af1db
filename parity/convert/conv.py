"""Conv2D <-> torch.nn.Conv2d / keras.layers.Conv2D, Conv2DTranspose <-> nn.ConvTranspose2d /
keras.layers.Conv2DTranspose, BatchNorm <-> nn.BatchNorm2d / keras.layers.BatchNormalization.

State_dict keys are those of the torch module itself (``weight``, ``running_var``, ...).
Pooling, Flatten and ReLU hold no weights and need no converter; Flatten's effect on the
next Dense layer is the rule ``flatten_order`` of parity.convert.dense.
"""

from __future__ import annotations

import numpy as np

from parity.convert.base import (
    Arrays,
    ConversionError,
    Converter,
    KernelBiasConverter,
    context,
    enabled,
    expect,
    layer_weights,
)


class Conv2DConverter(KernelBiasConverter):
    """Canonical ``W`` (kh, kw, C_in, C_out), ``b`` (C_out,).

    PyTorch: ``nn.Conv2d.weight`` is (out_channels, in_channels // groups, kh, kw)
    (torch/nn/modules/conv.py, ``_ConvNd.__init__``), the layout of NCHW cross-correlation.
    Keras: ``Conv2D.kernel`` is ``kernel_size + (input_channel // groups, filters)`` =
    (kh, kw, C_in, C_out) (keras/src/layers/convolutional/base_conv.py, ``build``), the
    scratch layout. Both compute the same cross-correlation (no kernel flip).

    Rule ``conv_kernel_layout``: ``weight = W.transpose(3, 2, 0, 1)`` (and back with
    ``weight.transpose(2, 3, 1, 0)``). The naive port, ``W.reshape(C_out, C_in, kh, kw)``,
    has the right shape and loads without complaint; the values are scrambled. (The rule
    is switched off in the loading direction only, like ``dense_transpose``.)
    The bias is the same vector in all three.
    """

    rules = ("conv_kernel_layout",)

    def _shapes(self, layer):
        return layer.weight_shapes()["W"], (layer.filters,)  # (*k, C_in, C_out), (C_out,)

    def torch_weight_shape(self, w_shape: tuple[int, ...]) -> tuple[int, ...]:
        *k, C_in, C_out = w_shape
        return (C_out, C_in, *k)

    def weight_to_torch(self, W: np.ndarray, previous=None) -> np.ndarray:
        *k, C_in, C_out = W.shape
        n = len(k)
        if enabled("conv_kernel_layout"):
            return W.transpose(n + 1, n, *range(n))  # (C_out, C_in, *k)
        return W.reshape(C_out, C_in, *k)  # the naive port: right shape, wrong order

    def weight_from_torch(self, weight: np.ndarray, w_shape: tuple[int, ...], previous=None) -> np.ndarray:
        n = len(w_shape) - 2
        return weight.transpose(*range(2, n + 2), 1, 0)  # (*k, C_in, C_out)


class Conv1DConverter(Conv2DConverter):
    """Canonical ``W`` (k, C_in, C_out), ``b`` (C_out,): Conv2D's rule, one spatial axis fewer.

    PyTorch: ``nn.Conv1d.weight`` is (out_channels, in_channels // groups, k) (torch/nn/modules/conv.py,
    ``_ConvNd.__init__``). Keras: ``Conv1D.kernel`` is ``kernel_size + (input_channel // groups, filters)``
    = (k, C_in, C_out) (keras/src/layers/convolutional/base_conv.py, ``build``), the scratch layout.

    Rule ``conv_kernel_layout``: ``weight = W.transpose(2, 1, 0)``, and back the same way
    (the naive port ``W.reshape(C_out, C_in, k)`` loads silently, scrambled).
    """


class ConvTranspose2DConverter(KernelBiasConverter):
    """Canonical ``W`` (kh, kw, C_out, C_in), ``b`` (C_out,): the transposed convolution's kernel.

    PyTorch: ``nn.ConvTranspose2d.weight`` is (in_channels, out_channels // groups, kh, kw)
    (torch/nn/modules/conv.py, ``_ConvNd.__init__`` with ``transposed=True``): the layout of the
    nn.Conv2d whose adjoint it is, input and output channels swapped. Keras:
    ``Conv2DTranspose.kernel`` is ``kernel_size + (filters, input_channel)`` = (kh, kw, C_out, C_in)
    (keras/src/layers/convolutional/base_conv_transpose.py, ``build``), the scratch layout.
    Neither flips the kernel: torch scatters weight[c, o, p, q] to output row i*s + p - padding, and
    Keras' backends compute the gradient of the Conv2D whose kernel is this one (JAX through
    ``lax.conv_transpose(..., transpose_kernel=True)``, keras/src/backend/jax/nn.py), the same scatter.

    Rule ``conv_transpose_kernel_layout``: ``weight = W.transpose(3, 2, 0, 1)`` and back
    ``weight.transpose(2, 3, 1, 0)``. The naive port, ``W.reshape(C_in, C_out, kh, kw)``, has the
    right shape and loads silently, scrambled (switched off in the loading direction only, like
    ``conv_kernel_layout``). The bias is the same vector in all three.
    """

    rules = ("conv_transpose_kernel_layout",)

    def _shapes(self, layer):
        return layer.weight_shapes()["W"], (layer.filters,)  # (kh, kw, C_out, C_in), (C_out,)

    def torch_weight_shape(self, w_shape: tuple[int, ...]) -> tuple[int, ...]:
        kh, kw, C_out, C_in = w_shape
        return (C_in, C_out, kh, kw)

    def weight_to_torch(self, W: np.ndarray, previous=None) -> np.ndarray:
        kh, kw, C_out, C_in = W.shape
        if enabled("conv_transpose_kernel_layout"):
            return W.transpose(3, 2, 0, 1)  # (C_in, C_out, kh, kw)
        return W.reshape(C_in, C_out, kh, kw)  # the naive port: right shape, wrong order

    def weight_from_torch(self, weight: np.ndarray, w_shape: tuple[int, ...], previous=None) -> np.ndarray:
        return weight.transpose(2, 3, 1, 0)  # (kh, kw, C_out, C_in)


class DepthwiseConv2DConverter(KernelBiasConverter):
    """Canonical ``W`` (kh, kw, C, m), ``b`` (C*m,): channel c's k-th filter is output channel c*m + k.

    PyTorch: a depthwise convolution is ``nn.Conv2d(C, C*m, k, groups=C)``, whose weight is
    (out_channels, in_channels // groups, kh, kw) = (C*m, 1, kh, kw) and whose output channel
    o reads input channel o // m (torch/nn/modules/conv.py, ``_ConvNd.__init__``; the groups split
    the outputs into C consecutive blocks of m). Keras: ``DepthwiseConv2D.kernel`` is
    ``kernel_size + (input_channel, depth_multiplier)`` = (kh, kw, C, m)
    (keras/src/layers/convolutional/base_depthwise_conv.py, ``build``), the scratch layout; its
    output channel c*m + k is the same order (the backends reshape the kernel to (kh, kw, 1, C*m)).

    Rule ``depthwise_kernel_layout``: ``weight = W.reshape(kh, kw, C*m).transpose(2, 0, 1)[:, None]``
    and back ``weight[:, 0].transpose(1, 2, 0).reshape(kh, kw, C, m)``. The naive port,
    ``W.reshape(C*m, 1, kh, kw)``, has the right shape and loads silently. The bias is the same vector.

    Rule ``grouped_conv_kernel``: Keras also writes a depthwise convolution as
    ``Conv2D(C*m, k, groups=C)`` (ConvNeXt's 7x7, keras/src/applications/convnext.py), whose kernel
    is ``kernel_size + (input_channel // groups, filters)`` = (kh, kw, 1, C*m)
    (keras/src/layers/convolutional/base_conv.py, ``build``), its output channel c*m + k reading
    input channel c as here: read from such a layer, ``W = kernel.reshape(kh, kw, C, m)``. The
    importer reads it as this kind because torch has one class for both (``nn.Conv2d(C, C*m,
    groups=C)``), which its importer reads as depthwise_conv2d: the ports then read back as the
    source does; loading into such a layer reshapes back (``fit_keras``). Without the
    rule the kernel of shape (kh, kw, 1, C*m) is refused, naming the layer.
    """

    rules = ("depthwise_kernel_layout", "grouped_conv_kernel")

    def _shapes(self, layer):
        shapes = layer.weight_shapes()
        return shapes["W"], (shapes["W"][2] * shapes["W"][3],)

    def torch_weight_shape(self, w_shape: tuple[int, ...]) -> tuple[int, ...]:
        kh, kw, C, m = w_shape
        return (C * m, 1, kh, kw)

    def weight_to_torch(self, W: np.ndarray, previous=None) -> np.ndarray:
        kh, kw, C, m = W.shape
        if enabled("depthwise_kernel_layout"):
            return W.reshape(kh, kw, C * m).transpose(2, 0, 1)[:, None]  # (C*m, 1, kh, kw)
        return W.reshape(C * m, 1, kh, kw)  # the naive port: right shape, wrong order

    def weight_from_torch(self, weight: np.ndarray, w_shape: tuple[int, ...], previous=None) -> np.ndarray:
        return weight[:, 0].transpose(1, 2, 0).reshape(w_shape)  # (kh, kw, C, m)

    def fit_keras(self, layer, values: list[np.ndarray], shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """Into a Conv2D(groups=C) (loading a source model), the kernel as (kh, kw, 1, C*m): ``grouped_conv_kernel``."""
        kh, kw, C, m = self._shapes(layer)[0]
        if enabled("grouped_conv_kernel") and C > 1 and shapes and tuple(shapes[0]) == (kh, kw, 1, C * m):
            return [np.asarray(values[0]).reshape(kh, kw, 1, C * m), *values[1:]]
        return values

    def kernel_from_keras(self, kernel: np.ndarray, w_shape: tuple[int, ...]) -> np.ndarray:
        kh, kw, C, m = w_shape
        if enabled("grouped_conv_kernel") and C > 1 and tuple(np.shape(kernel)) == (kh, kw, 1, C * m):
            return np.asarray(kernel).reshape(kh, kw, C, m)  # Conv2D(groups=C)'s (kh, kw, 1, C*m)
        return kernel


class BatchNormConverter(Converter):
    """Canonical ``gamma`` (with ``scale``), ``beta`` (with ``center``) (params) and ``moving_mean``,
    ``moving_var`` (state), all (C,), with Keras' semantics.

    Names. PyTorch ``nn.BatchNorm2d`` (torch/nn/modules/batchnorm.py, ``_NormBase``):
    ``weight`` = gamma, ``bias`` = beta, buffers ``running_mean``, ``running_var`` and
    ``num_batches_tracked`` (an int64 step counter with no Keras counterpart; loaded as
    0, it only matters for ``momentum=None``, a cumulative average). Keras
    ``BatchNormalization`` (keras/src/layers/normalization/batch_normalization.py,
    ``build``): weights in order [gamma (if scale), beta (if center), moving_mean,
    moving_variance]. No layout change: every array is the same vector.

    Hyper-parameters (applied where the model is built, framework/pytorch/models/conv_layers.py
    ``batch_norm_2d``, not here): eps = epsilon (defaults differ: torch 1e-5, Keras 1e-3)
    and torch momentum = 1 - Keras momentum (torch: new = (1 - m) * old + m * batch,
    default 0.1; Keras: new = m * old + (1 - m) * batch, default 0.99).

    Rule ``batchnorm_frozen_affine``: Keras' ``scale=False`` drops gamma and ``center=False``
    drops beta, each on its own (``build`` above creates each weight under its flag). torch has
    one switch for both, ``affine`` (``_NormBase.__init__`` in torch/nn/modules/batchnorm.py
    registers ``weight`` and ``bias`` together or neither). Neither flag: ``affine=False``.
    One of the two: ``affine=True`` with the absent parameter held at its identity value
    (weight 1, bias 0) and out of training, ``requires_grad_(False)`` (``torch_frozen``;
    framework/pytorch/conv.py ``frozen``), as ports of Keras' InceptionV3 hold it. So
    ``to_torch`` writes ones (zeros) for it, ``from_torch`` and ``grads_from_torch`` drop it.
    The naive port, the rule off, leaves it trainable: a forward pass agrees, the first
    optimiser step moves gamma (beta) away from 1 (0) where Keras has nothing to move.

    Rule ``batchnorm_biased_running_var``: both normalise a training batch with its
    biased variance v = mean((x - mean)^2) over the n = B*H*W values of a channel, and
    Keras (like scratch) keeps v in moving_variance; torch keeps the unbiased
    v * n / (n - 1) in running_var (``F.batch_norm``, the docstring of BatchNorm2d). So
    after one training-mode pass, with p = torch momentum = 1 - Keras momentum::

        running_var = (1 - p) * old + p * v * n / (n - 1)
        moving_var  = (1 - p) * old + p * v
                    = (1 - p) * old + (running_var - (1 - p) * old) * (n - 1) / n

    which needs ``old`` (the value loaded before the pass) and n: neither is in the
    state_dict, so the torch runner provides them (``conversion_context(loaded=...,
    batch=...)``); p is the momentum the case configured (the scratch layer's).
    ``num_batches_tracked`` (0 when loaded) counts the training passes. The inverse is
    exact for one pass after loading, which is what ``check``, ``inspect`` and the
    divergence cases run. After several passes (a training trajectory) the two differ by
    an excess that follows its own recurrence, d_t = (1 - p) d_(t-1) + p v_t / (n - 1),
    which needs every pass's batch variance: the torch training loop observes them and
    provides ``conversion_context(excess={layer: d})``, and moving_var = running_var - d.
    Without either context the value is returned as torch holds it, and the comparison
    shows the divergence ``batchnorm_running_variance`` instead of hiding it. Going to
    torch needs no rule: a loaded running_var is used as it is (inference divides by
    sqrt(running_var + eps) in both).
    """

    rules = ("batchnorm_frozen_affine", "batchnorm_biased_running_var")
    AFFINE = (("gamma", "weight", "scale", 1.0), ("beta", "bias", "center", 0.0))
    STATS = (("moving_mean", "running_mean"), ("moving_var", "running_var"))

    def _channels(self, layer) -> tuple[int]:
        return (layer.channels,)

    def _affine(self, layer):
        """(canonical, torch, present, identity) of gamma and beta; none when torch's ``affine`` is False."""
        if not (layer.scale or layer.center):
            return []
        return [(p, t, getattr(layer, flag), one) for p, t, flag, one in self.AFFINE]

    def torch_frozen(self, layer) -> list[str]:
        if not enabled("batchnorm_frozen_affine"):
            return []
        return [t for _, t, present, _ in self._affine(layer) if not present]

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        shape = self._channels(layer)
        stats = {t: expect(layer, p, weights.get(p), shape) for p, t in self.STATS}
        dtype = stats["running_mean"].dtype
        out = {
            t: expect(layer, p, weights.get(p), shape) if present else np.full(shape, one, dtype=dtype)
            for p, t, present, one in self._affine(layer)
        }
        out.update(stats)
        out["num_batches_tracked"] = np.array(0, dtype=np.int64)
        return out

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        shape = self._channels(layer)
        out = {p: expect(layer, t, state.get(t), shape) for p, t, present, _ in self._affine(layer) if present}
        out.update({p: expect(layer, t, state.get(t), shape) for p, t in self.STATS})
        one_pass = int(state.get("num_batches_tracked", 0)) == 1
        known = context("loaded") is not None and context("batch") is not None
        excess = (context("excess") or {}).get(layer.name)
        if excess is not None and enabled("batchnorm_biased_running_var"):
            out["moving_var"] = out["moving_var"] - excess.astype(out["moving_var"].dtype)
        elif one_pass and known and enabled("batchnorm_biased_running_var"):
            out["moving_var"] = self._biased(layer, out["moving_var"], context("loaded"), context("batch"))
        return out

    def _biased(self, layer, running_var: np.ndarray, loaded: Arrays, batch: int) -> np.ndarray:
        """Keras' moving_var from torch's running_var after one training pass (see the class docstring)."""
        old = layer_weights(layer, loaded)["moving_var"].astype(running_var.dtype)
        n = batch * int(np.prod(layer.input_shape)) // layer.channels  # values per channel: B*H*W
        p = 1.0 - layer.momentum  # torch's momentum
        kept = (1.0 - p) * old
        return kept + (running_var - kept) * ((n - 1) / n)

    def grads_from_torch(self, layer, grads: Arrays, previous=None) -> Arrays:
        shape = self._channels(layer)
        return {p: expect(layer, t, grads.get(t), shape) for p, t, present, _ in self._affine(layer) if present}

    def _keras_names(self, layer) -> list[tuple[str, str]]:
        """(canonical, Keras weight name) in ``layer.weights`` order."""
        names = [("gamma", "gamma")] if layer.scale else []
        names += [("beta", "beta")] if layer.center else []
        return names + [("moving_mean", "moving_mean"), ("moving_var", "moving_variance")]

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        shape = self._channels(layer)
        return [expect(layer, p, weights.get(p), shape) for p, _ in self._keras_names(layer)]

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        shape = self._channels(layer)
        names = self._keras_names(layer)
        if len(values) != len(names):
            detail = "one weight each: " + ", ".join(k for _, k in names)
            raise ConversionError(layer.name, "weights", (len(names),), (len(values),), detail=detail)
        return {p: expect(layer, k, v, shape) for (p, k), v in zip(names, values, strict=True)}

    def grads_from_keras(self, layer, grads: list[np.ndarray | None], previous=None) -> Arrays:
        shape = self._channels(layer)
        trainable = [(p, k) for p, k in self._keras_names(layer) if p in ("gamma", "beta")]
        return {p: expect(layer, k, grads[i], shape) for i, (p, k) in enumerate(trainable)}


class SeparableConv2DConverter(Converter):
    """Canonical ``D`` (kh, kw, C, m), ``P`` (1, 1, C*m, filters), ``b`` (filters,): Keras' three weights.

    Keras: ``SeparableConv2D`` holds ``depthwise_kernel`` (kh, kw, C, m), ``pointwise_kernel``
    (1, 1, C*m, filters) and ``bias`` (filters,), in that order (keras/src/layers/convolutional/
    base_separable_conv.py, ``build``): the scratch layout, no change. PyTorch has no separable
    module; it is two nn.Conv2d (framework/pytorch/conv.py ``SeparableConv2d``: ``depthwise``
    with groups=C and no bias, ``pointwise`` 1x1), and each stage takes its own rule:

    - rule ``depthwise_kernel_layout`` (as DepthwiseConv2DConverter): ``depthwise.weight =
      D.reshape(kh, kw, C*m).transpose(2, 0, 1)[:, None]``, (C*m, 1, kh, kw);
    - rule ``conv_kernel_layout`` (as Conv2DConverter): ``pointwise.weight = P.transpose(3, 2, 0, 1)``,
      (filters, C*m, 1, 1); ``pointwise.bias = b``.

    A torch model written as two bare nn.Conv2d imports as depthwise_conv2d (no bias) and a 1x1
    conv2d, the same function in two nodes; grouped in ``SeparableConv2d`` it is this one kind.
    """

    rules = ("depthwise_kernel_layout", "conv_kernel_layout")

    def _shapes(self, layer):
        return layer.weight_shapes()

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        shapes = self._shapes(layer)
        D = expect(layer, "D", weights.get("D"), shapes["D"])
        P = expect(layer, "P", weights.get("P"), shapes["P"])
        out = {"depthwise.weight": DEPTHWISE.weight_to_torch(D), "pointwise.weight": POINTWISE.weight_to_torch(P)}
        if layer.use_bias:
            out["pointwise.bias"] = expect(layer, "b", weights.get("b"), shapes["b"])
        return out

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        shapes = self._shapes(layer)
        out = {}
        for p, key, stage in (("D", "depthwise.weight", DEPTHWISE), ("P", "pointwise.weight", POINTWISE)):
            weight = expect(layer, key, state.get(key), stage.torch_weight_shape(shapes[p]))
            out[p] = stage.weight_from_torch(weight, shapes[p])
        if layer.use_bias:
            out["b"] = expect(layer, "pointwise.bias", state.get("pointwise.bias"), shapes["b"])
        return out

    def _keras_names(self, layer) -> list[tuple[str, str]]:
        names = [("D", "depthwise_kernel"), ("P", "pointwise_kernel")]
        return names + ([("b", "bias")] if layer.use_bias else [])

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        shapes = self._shapes(layer)
        return [expect(layer, p, weights.get(p), shapes[p]) for p, _ in self._keras_names(layer)]

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        shapes = self._shapes(layer)
        names = self._keras_names(layer)
        if len(values) != len(names):
            detail = "one weight each: " + ", ".join(k for _, k in names)
            raise ConversionError(layer.name, "weights", (len(names),), (len(values),), detail=detail)
        return {p: expect(layer, k, v, shapes[p]) for (p, k), v in zip(names, values, strict=True)}


# The two stages of a separable convolution, each with its own rule.
DEPTHWISE = DepthwiseConv2DConverter()
POINTWISE = Conv2DConverter()
