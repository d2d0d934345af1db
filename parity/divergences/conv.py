"""Divergences of the convolutional family: layouts, padding, pooling, BatchNorm conventions.

The naive port switches a named rule off (``disabled_rules``), whether the rule lives in a
converter or where the torch model is built (``same_padding``, ``channels_last_input``), or
leaves BatchNorm's ``epsilon`` / ``momentum`` at null (each framework's own default).
"""

from __future__ import annotations

from parity.divergences.base import Divergence, Side, Variant, default_kept, forgotten_rule

# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[Divergence] = []

DIVERGENCES.append(
    forgotten_rule(
        "conv_kernel_layout",
        against="scratch",
        name="conv_kernel_layout",
        area="convolution",
        differs="nn.Conv2d.weight is (C_out, C_in, kh, kw) (torch/nn/modules/conv.py); the Keras Conv2D kernel is "
        "(kh, kw, C_in, C_out) (keras/src/layers/convolutional/base_conv.py). The naive port "
        "W.reshape(C_out, C_in, kh, kw) has the right shape and loads silently.",
        rule="weight = kernel.transpose(3, 2, 0, 1); kernel = weight.transpose(2, 3, 1, 0). The bias is unchanged.",
        converter="parity.convert.conv.Conv2DConverter (rule conv_kernel_layout)",
        case="conv2d",
        layer="conv2d_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="channels_last_input",
        area="convolution",
        differs="Keras images are channels-last (B, H, W, C) by default (keras.config.image_data_format()); every "
        "torch.nn image module reads (B, C, H, W) (torch/nn/modules/conv.py). Handing the NHWC array to an NCHW "
        "model usually fails on the channel count, but when H == C it runs and convolves rows as channels.",
        rule="Permute before the first image module and back after it (x.permute(0, 3, 1, 2) / (0, 2, 3, 1)); "
        "the torch models here read (B, C, H, W), and the data is permuted once, at the model input.",
        converter="parity.runners.torch_runner.TorchGraph (rule channels_last_input: NHWC -> NCHW at the model's input)",
        case="conv2d",
        config={"input_shape": [4, 6, 4], "filters": 4, "strides": 1},  # H == C == filters: the shapes all fit
        naive=Variant(Side("scratch"), Side("torch", disabled_rules=("channels_last_input",))),
        converted=Variant(Side("scratch"), Side("torch")),
        layer="conv2d_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "flatten_order",
        against="scratch",
        name="flatten_order",
        area="convolution",
        differs="keras.layers.Flatten of a channels-last map flattens in (H, W, C) order "
        "(keras/src/layers/reshaping/flatten.py); torch.nn.Flatten of an NCHW map in (C, H, W) order "
        "(torch/nn/modules/flatten.py). The Dense/Linear weight after it has the same shape either way.",
        rule="Permute the rows of the next layer's kernel: W.reshape(H, W, C, D).transpose(2, 0, 1, 3).reshape(C*H*W, D), "
        "then transpose into nn.Linear.weight.",
        converter="parity.convert.dense.DenseConverter (rule flatten_order)",
        case="cnn",
        layer="dense_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "same_padding",
        against="scratch",
        name="same_padding_stride2",
        area="convolution",
        differs="Keras' padding='same' pads total = max((ceil(n/s) - 1)*s + k - n, 0) with the odd cell at the "
        "bottom/right (keras/src/backend/torch/nn.py _compute_padding_length; TensorFlow's rule). "
        "nn.Conv2d(padding='same') refuses strides > 1 (torch/nn/modules/conv.py), and the hand port padding=k//2 "
        "pads (1, 1) where Keras pads (0, 1) for k=3, s=2 and an even size: same output shape, every window one "
        "pixel off. (With an odd size both pad (1, 1) and agree, which hides it.)",
        rule="Pad explicitly from the input size: F.pad(x, (left, right, top, bottom)) by Keras' rule, then convolve "
        "with padding=0.",
        converter="parity.layers.conv (rule same_padding: nn.Conv2d(padding='same') or framework.pytorch.conv.Conv2d)",
        case="conv2d",
        config={"kernel_size": 3, "strides": 2, "padding": "same", "input_shape": [8, 8, 3]},
        layer="conv2d_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "same_padding",
        against="scratch",
        name="avgpool_count_include_pad",
        area="pooling",
        differs="nn.AvgPool2d(k, s, padding=p) has count_include_pad=True (torch/nn/modules/pooling.py): border windows "
        "divide by k*k, padded zeros included. Keras' AveragePooling2D(padding='same') divides by the number of real "
        "cells (keras/src/layers/pooling/base_pooling.py -> ops.average_pool; TensorFlow's avg_pool).",
        rule="count_include_pad=False when the padding is symmetric; in general pad like Keras and divide a sum pool "
        "by the sum pool of a ones mask.",
        converter="parity.layers.conv (rule same_padding: framework.pytorch.conv.AvgPool2d)",
        case="avgpool2d",
        # pool 3, stride 1: the padding is (1, 1) on every side, so only the count differs
        config={"pool_size": 3, "strides": 1, "padding": "same", "input_shape": [6, 7, 3]},
        layer="avg_pool2d_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="keras_torch_avgpool_same_padding",
        area="pooling",
        differs="On the torch backend, Keras' average_pool pads an asymmetric 'same' padding with mode='replicate' and "
        "averages the copies as if they were cells (keras/src/backend/torch/nn.py, _apply_same_padding with "
        "operation_type='pooling'); JAX and TensorFlow average the real cells only. With pool_size 3, strides 2 "
        "and an even size the last window is (a + b + b) / 3 instead of (a + b) / 2. With pool_size 2 the copied "
        "edge is the window's only other cell, so the mean is right by coincidence. Known upstream "
        "(keras-team/keras#18452, #19721); the installed Keras 3.15.1 still does it.",
        rule="No conversion rule exists: on keras-torch, avoid AveragePooling2D(padding='same') with pool_size >= 3 "
        "where (ceil(n/s) - 1)*s + k - n is odd (use pool_size 2, an input size that makes the padding even, "
        "or padding='valid'). The converted variant uses pool_size 2 on the same input.",
        converter="none (a Keras torch-backend bug); parity.cases.conv avgpool2d defaults avoid it",
        case="avgpool2d",
        config={"pool_size": 3, "strides": 2, "padding": "same", "input_shape": [6, 7, 2]},
        naive=Variant(Side("scratch"), Side("keras-torch")),
        converted=Variant(Side("scratch", {"pool_size": 2}), Side("keras-torch", {"pool_size": 2})),
        layer="avg_pool2d_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="batchnorm_epsilon",
        area="normalization",
        differs="nn.BatchNorm2d() has eps=1e-5 (torch/nn/modules/batchnorm.py); keras.layers.BatchNormalization() has "
        "epsilon=1e-3 (keras/src/layers/normalization/batch_normalization.py). Every output is divided by "
        "sqrt(var + eps), so the defaults disagree wherever var is not large.",
        rule="Pass it: nn.BatchNorm2d(C, eps=1e-3) for a Keras default, BatchNormalization(epsilon=1e-5) for a torch one.",
        converter="parity.layers.conv._bn_torch (eps=epsilon)",
        case="batchnorm",
        config={"training": False},
        naive=Variant(
            Side("keras-jax", {"epsilon": None, "momentum": None}), Side("torch", {"epsilon": None, "momentum": None})
        ),
        converted=Variant(
            Side("keras-jax", {"epsilon": None, "momentum": None}), Side("torch", {"epsilon": 1e-3, "momentum": 0.99})
        ),
        layer="batch_norm_0",
        keys=('epsilon',),
    )
)

DIVERGENCES.append(
    default_kept(
        "momentum",
        0.99,
        against="keras-jax",
        port="torch",
        name="batchnorm_momentum",
        area="normalization",
        differs="torch's momentum weighs the new batch (new = (1 - m) * old + m * batch, default m = 0.1, "
        "torch/nn/modules/batchnorm.py); Keras' weighs the old value (new = m * old + (1 - m) * batch, default "
        "m = 0.99, keras/src/layers/normalization/batch_normalization.py). Copying either number moves the running "
        "statistics at the wrong speed.",
        rule="torch momentum = 1 - Keras momentum: nn.BatchNorm2d(C, momentum=0.01) for Keras' 0.99.",
        converter="parity.layers.conv._bn_torch (momentum=1 - momentum)",
        case="batchnorm",
        config={"training": True},
        layer="batch_norm_0",
        keys=('momentum',),
        # The running mean carries the momentum alone; the running variance also needs the rule of
        # batchnorm_running_variance, whose conversion assumes the momentum the case was configured with.
        quantities=("weight:batch_norm_0.moving_mean",),
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "batchnorm_biased_running_var",
        against="scratch",
        name="batchnorm_running_variance",
        area="normalization",
        differs="In training both normalise with the biased batch variance v, but torch stores the unbiased v*n/(n-1) "
        "in running_var (n = B*H*W per channel; F.batch_norm, documented in BatchNorm2d, torch/nn/modules/batchnorm.py) "
        "while Keras stores v in moving_variance (keras/src/layers/normalization/batch_normalization.py, ops.moments). "
        "Inference afterwards divides by different variances.",
        rule="moving_var = (1 - p)*old + (running_var - (1 - p)*old) * (n - 1)/n after one training pass, p = torch "
        "momentum; it needs the value before the pass and n, so it is exact for one pass only.",
        converter="parity.convert.conv.BatchNormConverter (rule batchnorm_biased_running_var)",
        case="batchnorm",
        config={"training": True},
        layer="batch_norm_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="batchnorm_default_mode",
        area="normalization",
        differs="A freshly built torch module is in training mode (Module.__init__ sets training = True, torch/nn/modules/module.py): "
        "BatchNorm2d normalises with the batch's statistics and updates its running ones. A Keras model called as "
        "model(x) runs in inference mode ('training=False (which is the default)', the BatchNormalization docstring, "
        "keras/src/layers/normalization/batch_normalization.py) and uses the moving statistics; only fit() trains.",
        rule="Call model.eval() in torch before comparing or predicting (model.train() for training steps), and pass "
        "training=True to Keras explicitly when a training-mode pass is wanted.",
        converter="parity.runners.torch_runner.run_torch (model.train(request.training))",
        case="batchnorm",
        config={"training": False},
        naive=Variant(Side("keras-jax", {"training": False}), Side("torch", {"training": True})),
        converted=Variant(Side("keras-jax", {"training": False}), Side("torch", {"training": False})),
        layer="batch_norm_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "channels_last_input",
        against="scratch",
        name="conv1d_channel_order",
        area="convolution",
        differs="keras.layers.Conv1D reads batch-first, channels-last sequences (B, L, C) "
        "(keras/src/layers/convolutional/base_conv.py, data_format='channels_last'); nn.Conv1d reads (B, C, L) "
        "(torch/nn/modules/conv.py), while nn.LSTM(batch_first=True) reads (B, L, C). Handing the Keras-ordered "
        "array to nn.Conv1d usually fails on the channel count, but when L == C it runs and convolves across "
        "channels instead of steps.",
        rule="x.permute(0, 2, 1) before nn.Conv1d (and back before an nn.LSTM or a batch-first loss): the generated "
        "model hands its input over in the layout the first layer declares it reads, and permutes between layers "
        "that read different layouts.",
        converter="parity.spec.generate.layouts_of (TorchSide.reads) and parity.runners.torch_runner.TorchGraph "
        "(rule channels_last_input)",
        case="conv1d",
        # L == C == filters with 'same' padding: every shape fits both ways
        config={"input_shape": [4, 4], "filters": 4, "padding": "same", "dilation_rate": 1},
        layer="conv1d_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "causal_padding",
        against="scratch",
        name="conv1d_causal_padding",
        area="convolution",
        differs="Keras' Conv1D(padding='causal') pads (k - 1) * d zeros before the steps and none after "
        "(keras/src/layers/convolutional/conv1d.py, _compute_causal_padding), so output[t] reads input[:t + 1] "
        "only. torch has no causal padding: nn.Conv1d's padding is symmetric (torch/nn/modules/conv.py), and the "
        "hand port padding=(k - 1) * d // 2 keeps the length but lets every output read (k - 1) * d // 2 steps of "
        "the future.",
        rule="Pad on the left only, F.pad(x, ((k - 1) * d, 0)), then convolve with padding=0 "
        "(framework.pytorch.conv.Conv1d(padding='causal')).",
        converter="parity.layers.conv._conv1d_torch (rule causal_padding: framework.pytorch.conv.Conv1d)",
        case="conv1d",
        config={"padding": "causal", "kernel_size": 3, "dilation_rate": 2},
        layer="conv1d_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "depthwise_kernel_layout",
        against="scratch",
        name="depthwise_kernel_layout",
        area="convolution",
        differs="Keras' DepthwiseConv2D kernel is (kh, kw, C, m) (keras/src/layers/convolutional/base_depthwise_conv.py); "
        "torch's depthwise nn.Conv2d(C, C*m, k, groups=C) has weight (C*m, 1, kh, kw), output channel c*m + k "
        "(torch/nn/modules/conv.py). The naive port W.reshape(C*m, 1, kh, kw) has the right shape and loads silently.",
        rule="weight = W.reshape(kh, kw, C*m).transpose(2, 0, 1)[:, None]; W = weight[:, 0].transpose(1, 2, 0)"
        ".reshape(kh, kw, C, m). The bias is unchanged.",
        converter="parity.convert.conv.DepthwiseConv2DConverter (rule depthwise_kernel_layout)",
        case="depthwise_conv2d",
        layer="depthwise_conv2d_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "conv_transpose_padding",
        against="scratch",
        name="conv_transpose_same",
        area="convolution",
        differs="Keras' Conv2DTranspose(padding='same') makes the output H * stride and cuts the rest of the full "
        "output (H - 1) * stride + k with the odd row at the END (keras/src/backend/common/backend_utils.py, "
        "_get_output_shape_given_tf_padding and compute_conv_transpose_output_crops_for_torch). nn.ConvTranspose2d "
        "cuts padding rows from BOTH ends and appends output_padding at the end (torch/nn/modules/conv.py). The "
        "usual hand port padding=k//2, output_padding=stride - 1 has the right size for odd k, but for k=3, "
        "stride 2 it cuts the first row where Keras cuts the last: every output row one place off (for even k "
        "the size differs too).",
        rule="Keras' crops are (max(t // 2, 0), t - that) with t = (H - 1)*s + k - H_out; nn.ConvTranspose2d("
        "padding=before, output_padding=before - after) where 0 <= before - after < stride, otherwise the full "
        "output cropped explicitly (framework.pytorch.conv.ConvTranspose2d).",
        converter="parity.layers.conv (rule conv_transpose_padding: nn.ConvTranspose2d or "
        "framework.pytorch.conv.ConvTranspose2d)",
        case="conv2d_transpose",
        config={"kernel_size": 3, "strides": 2, "padding": "same", "output_padding": None},
        layer="conv2d_transpose_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="conv_transpose_output_padding",
        area="convolution",
        differs="nn.ConvTranspose2d(output_padding=1) appends a row and a column (torch/nn/modules/conv.py); a Keras "
        "port that drops it gets Conv2DTranspose's output_padding=None, which for 'valid' means max(k, stride) - k "
        "(keras/src/backend/common/backend_utils.py, _get_output_shape_given_tf_padding): 0 for k=3, stride 2, "
        "so the output is one row and column short.",
        rule="Pass it: Conv2DTranspose(..., output_padding=1) for torch's output_padding=1 (with padding=0: "
        "'valid'); None is a default of its own, not 0.",
        converter="parity.layers.conv._convt_keras (output_padding carried over) and _convt_keras_config (the "
        "importer's reading of torch's padding and output_padding)",
        case="conv2d_transpose",
        config={"kernel_size": 3, "strides": 2, "padding": "valid", "output_padding": [1, 1]},
        naive=Variant(Side("torch"), Side("keras-jax", {"output_padding": None})),
        converted=Variant(Side("torch"), Side("keras-jax")),
        layer="conv2d_transpose_0",
        keys=("output_padding",),
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "conv_transpose_kernel_layout",
        against="scratch",
        name="conv_transpose_kernel_layout",
        area="convolution",
        differs="nn.ConvTranspose2d.weight is (C_in, C_out, kh, kw) (torch/nn/modules/conv.py, _ConvNd with "
        "transposed=True); Keras' Conv2DTranspose kernel is (kh, kw, C_out, C_in) "
        "(keras/src/layers/convolutional/base_conv_transpose.py, build). Neither flips the kernel. The naive port "
        "kernel.reshape(C_in, C_out, kh, kw) has the right shape and loads silently.",
        rule="weight = kernel.transpose(3, 2, 0, 1); kernel = weight.transpose(2, 3, 1, 0). The bias is unchanged.",
        converter="parity.convert.conv.ConvTranspose2DConverter (rule conv_transpose_kernel_layout)",
        case="conv2d_transpose",
        layer="conv2d_transpose_0",
    )
)
