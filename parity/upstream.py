"""Known bugs of the frameworks themselves: reproduced, cited, and the port that avoids them.

A divergence case is two frameworks computing different things; an upstream bug is one
implementation failing where the mathematics is fine (a crash inside the framework). Each entry
names the implementation and dtype, the message it fails with, the upstream issue, and a case that
reproduces it; ``run_bug`` shows the failure (caught, with that message) and that the workaround
passes against scratch. ``parity fuzz`` reports a model that hits one as that known bug, not as a
new finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parity.agreement.records import Record
from parity.check import check_case


@dataclass(frozen=True)
class UpstreamBug:
    """One framework bug.

    Attributes:
        name: identifier.
        impl, dtype: where it shows ("both": float64 and float32).
        message: what the implementation fails with (a substring of the error).
        upstream: the issue that reports it.
        cause: why, with the framework source files.
        workaround: what a port does instead.
        case, config: a case configuration that reproduces it.
        workaround_impl: the implementation that runs the workaround (judged against scratch).
    """

    name: str
    impl: str
    dtype: str
    message: str
    upstream: str
    cause: str
    workaround: str
    case: str
    config: dict[str, Any] = field(default_factory=dict)
    workaround_impl: str = "torch"

    def matches(self, impl: str, dtype: str, status: str, detail: str) -> bool:
        """Whether a crashed comparison of ``impl`` in ``dtype`` is this bug."""
        return (
            impl == self.impl
            and self.dtype in (dtype, "both")
            and status == "crashed"
            and self.message in (detail or "")
        )

    @property
    def dtypes(self) -> list[str]:
        return ["float64", "float32"] if self.dtype == "both" else [self.dtype]


BUGS: list[UpstreamBug] = [
    UpstreamBug(
        name="torch_slow_conv2d_noncontiguous_grad_weight",
        impl="keras-torch",
        dtype="float64",
        message="slow_conv2d: grad_weight must be contiguous",
        upstream="pytorch/vision#6001 (a PyTorch core issue: the same check, hit by a non-contiguous weight)",
        cause="Keras' torch backend passes conv's kernel to torch as a permuted view, torch.permute(kernel, (3, 2, 0, 1)) "
        "(keras/src/backend/torch/nn.py, _transpose_conv_kernel), never made contiguous. On CPU in float64 torch's "
        "slow_conv2d backward (aten/src/ATen/native/ConvolutionMM2d.cpp) allocates grad_weight with the weight's strides "
        "and then requires it to be contiguous: for some shapes (a (2, 1) kernel, one filter, two input channels) the "
        "permuted view is not, and the backward pass raises.",
        workaround="Give torch a contiguous weight: nn.Conv2d's own weight (the torch port), or "
        "F.conv2d(x, kernel.permute(3, 2, 0, 1).contiguous()).",
        case="conv2d",
        config={
            "input_shape": [2, 1, 2],
            "kernel_size": [2, 1],
            "filters": 1,
            "strides": 1,
            "padding": "valid",
        },
    ),
    UpstreamBug(
        name="tf_depthwise_conv2d_unequal_strides",
        impl="keras-tensorflow",
        dtype="both",
        message="only supports equal length strides in the row and column dimensions",
        upstream="tensorflow/tensorflow#33005",
        cause="Keras' TensorFlow backend computes DepthwiseConv2D with tf.nn.depthwise_conv2d and strides "
        "(1, s_h, s_w, 1) (keras/src/backend/tensorflow/nn.py, depthwise_conv; its 1-D form repeats one stride "
        "for both axes, which is why Conv1D-like depthwise layers never hit it); TensorFlow's DepthwiseConv2dNative "
        "kernel refuses s_h != s_w with an InvalidArgumentError, in both dtypes. Found by parity fuzz (seed 2026).",
        workaround="Equal strides, or the torch port: nn.Conv2d(C, C * multiplier, k, stride=(s_h, s_w), groups=C).",
        case="depthwise_conv2d",
        config={"strides": [2, 1]},
    ),
]


def all_bugs() -> dict[str, UpstreamBug]:
    return {bug.name: bug for bug in BUGS}


def known_bug(impl: str, dtype: str, status: str, detail: str) -> UpstreamBug | None:
    """The known bug a crashed comparison is, or None."""
    return next((bug for bug in BUGS if bug.matches(impl, dtype, status, detail)), None)


@dataclass
class BugResult:
    bug: UpstreamBug
    failing: list[Record]  # the implementation with the bug, against scratch
    workaround: list[Record]  # the workaround, against scratch

    @property
    def reproduced(self) -> bool:
        return any(self.bug.matches(r.impl_b, r.dtype, r.status, r.detail) for r in self.failing)

    @property
    def workaround_passes(self) -> bool:
        return bool(self.workaround) and all(r.passed for r in self.workaround)

    @property
    def ok(self) -> bool:
        return self.reproduced and self.workaround_passes


def run_bug(bug: UpstreamBug, seed: int = 0) -> BugResult:
    """The bug's case on its implementation (the failure, caught as a record) and on the workaround."""
    failing = check_case(bug.case, bug.config, [bug.impl], bug.dtypes, seed)
    workaround = check_case(bug.case, bug.config, [bug.workaround_impl], bug.dtypes, seed)
    return BugResult(bug, failing, workaround)
