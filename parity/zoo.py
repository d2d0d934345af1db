"""The real architectures: ``keras.applications`` models ported to torch and back, and the verdict.

For each named architecture, built with ``weights=None``, ``include_top=True`` and a ten-class
head (``classes=10``: the architecture's own head, its classifier only narrower) that returns the
logits (``classifier_activation=None``, see "Logits" below) at a small input (``DEFAULT_INPUT``, see
"Input size" below; ``MIN_INPUT`` is the smallest each accepts):

1. the Keras model is imported to a spec (``parity.sources``); an architecture with a layer the
   registry lacks gets a row naming that Keras class and layer instead of failing the run;
2. it is ported to torch (``parity.porting.port``): the torch port against the source, each with
   its own weights, outputs, the input gradient, every parameter gradient and every weight, in
   each dtype, plus ``steps`` optimiser steps of source, port and scratch (BatchNormalization in
   training mode: batch statistics, running statistics updated);
3. the generated torch model is ported back to Keras (the round trip), and the round trip is
   compared with the source (``parity.ports.compare``, inference mode, each its own weights).

``compare`` also runs scratch built from each spec, so every comparison includes scratch. Each row
has one result over everything, and a verdict for each part alone (``_part``): ``inference`` (outputs,
the input gradient, every parameter gradient and every weight as held, both ways) and ``training``
(the loss and every weight after each step), so a row that is ``ill-conditioned`` only through its
training step says that its outputs and gradients agree.
Architectures run one at a time; after each, the Keras workers are closed and memory collected,
and the peak resident memory of this process and the worker is recorded.

Input size. By default each architecture runs at the smallest input side at which every
BatchNormalization normalises feature maps of at least 2x2 (``DEFAULT_INPUT``): 64 where the smallest
accepted is 32, 107 for InceptionV3 and InceptionResNetV2 (75 is accepted), Xception's 71 (3x3 there);
ConvNeXt and VGG have no BatchNormalization and keep 32. At the smallest accepted side the deepest
stages of the others are 1x1, and a training-mode BatchNormalization over the batch of 2 normalises 2
values per channel: the training step is then chaotic, and not because of any port. Measured with one
float64 step at 32x32 (``--input-size 32``): one ulp of the source's input moves DenseNet121's step by
6.1e-8, EfficientNetB0's by 3.8e-7 and DenseNet169's and EfficientNetB4's onwards by order 1, beyond
the trajectory tolerance 1e-9, so 22 architectures could not be judged there; at 64x64 DenseNet121
(worst 5.6e-14 over outputs, gradients and the step), DenseNet169 (4.3e-14), EfficientNetB0 (2.0e-12) and
ResNet50 (7.6e-13) agree. The inference comparisons agree at either size. ``--input-size N`` runs every
named architecture at N instead (no smaller than it accepts).

Logits. Untrained (BatchNormalization in inference mode is the identity at initialisation), a
residual architecture's activations grow with every block they add into: EfficientNetV2L at 32x32
(float64, seeded) has max |x| 1.8 after stage 1, 1.5e2 after stage 3, 8.2e3 after stage 5, and
logits spread over 1.6e4, where EfficientNetV2M (fewer blocks) stays at 3.0e2 after stage 6 with
logits spread over 3.3e2. A softmax over logits apart by more than ~745 is exactly one-hot in
float64 (exp underflows), its Jacobian exactly zero, so every gradient of every implementation is
0 and a comparison of them is vacuous. The zoo therefore compares every architecture the same way,
up to its logits (``classifier_activation=None``, an argument of every keras.applications builder):
the whole backward pass then carries the cotangent. The head's softmax is a layer kind of its own,
compared by the registry's case ``softmax`` (``parity.cases.dense``) in every implementation.
A comparison that is vacuous nevertheless (every gradient of the source zero at the precision of
what fed it) is reported ``degenerate``, never ``agree`` (``parity.ports.Comparison.degenerate``).

Conditioning. The same growth makes untrained EfficientNetV2L chaotic: measured on the Keras
source alone (torch backend, float64 kept, seed 0, 32x32, batch 2), moving every input element by
one ulp moves the logits by 0.30 relative, every weight by a relative 1e-12 by 0.49; a relative
1e-13 on the input is still 3e-15 after stage 3, 5e-9 after stage 5, 0.14 after stage 6 and 0.30
at the logits, the squeeze-and-excitation gates (``se_expand``) changing first. Why the gates: each
is x * sigmoid(z), and untrained z falls to -45 (block4a), -202 (block5a) and about -705 from
block5p on, where sigmoid(z) ~ exp(z), whose condition number is |z|: one ulp across a gate grows
78x in block4a and ~2e3x in stages 5-6, diluted by the projections and residual adds to ~1.8x
per block over the 44 gated blocks of stages 5 and 6. Layer by layer, scratch's distance from the
source is 0.5-2.7x the source's own one-ulp move (552 layers; median 1.1). Scratch, whose
NumPy sums round in another order than torch's kernels, is 0.28 from the source there; the torch
port, on the same kernels as the source, agrees to 1e-15. EfficientNetV2M, with the same blocks
and fewer of them, moves by 6.6e-13 for one ulp of the input, which is its worst error against
scratch (8.4e-13). So a comparison that fails only where rounding could explain it is judged by
the source's own condition (``parity.fuzz.conditioning.ill_conditioned``: two more runs of the
source, its input and then its weights moved by one ulp): beyond the tolerance, the row is
``ill-conditioned``, with the measured move, never ``agree``; a weight that differs is
``disagree`` whatever the condition. Neither number is a tolerance: nothing is judged looser.
At the default 64x64 (the full zoo, seed 0) both stay ill-conditioned in inference, their training
steps agreeing: one ulp moves EfficientNetV2L's float64 logits by 1.3e-5 (input) and 9.4e-6 (weights),
EfficientNetV2M's by 0.53 and 0.59; which gates saturate, and so how far a rounding is carried,
depends on the input side. ``--branch-scale C`` (``BRANCH_SCALED``: the EfficientNet architectures)
starts the gamma of each residual branch's last BatchNormalization (``<block>project_bn``) at C
instead of Keras' 1, in the zoo's source, so every implementation loads the same weights: the
residual stream then stays bounded, as a trained one's does (the known "zero-init residual" practice,
Goyal et al. 2017, torchvision's ``zero_init_residual``, without the zero that would make every
gradient inside a branch 0). Measured on the Keras source (float64, seed 0, 64x64): at C = 1 the
logits reach 2.3e5 (V2M) and 2.8e7 (V2L), every squeeze-and-excitation gate of the deep stages is 0,
and one ulp of input moves the logits by 0.40 and 3.6e-6; at C = 0.5 the logits are 1.6e-2 and
3.9e-3, no gate is below 0.35, and the move is 5.2e-15 for both. ``parity zoo EfficientNetV2M
EfficientNetV2L --branch-scale 0.5`` (both dtypes, one step): both agree, inference and step, float64
worst 8.1e-12 and 1.2e-11, float32 3.0e-6 and 7.6e-6 (217 s and 510 s, peak 2.5 and 5.2 GB). The
default stays Keras' own initialisation; a row run with another C says so.

Training steps. The source's step runs on Keras' torch backend (the zoo's worker), whose
BatchNormalization takes its batch variance from ``moments`` (keras/src/backend/torch/nn.py):
mean(X**2) - mean(X)**2, in one pass; the torch port's ``batch_norm`` and scratch subtract the mean
first (divergence ``keras_torch_batchnorm_one_pass_variance``). Untrained activations grow to 1e2-1e4
and the deep stages normalise 2 values per channel (batch 2, 1x1 maps), where one pass loses
mean**2 / var of the digits: 23 BatchNorm architectures part after one float64 step (DenseNet121,
weights after the step: source against port 2.5e-7, source against scratch 2.6e-7, port against
scratch 1.6e-8; trajectory tolerance 1e-9). Where such a step record fails, ``parity.ports`` runs the
source's step again with two passes (``parity.training.two_pass``, a measurement, never the default)
and judges every record again with that trajectory (DenseNet121: 6.7e-9 and 9.0e-9). What is left is
the step's condition: one ulp of the input moves DenseNet121's two-pass source step by 6.1e-8, the
torch port's by 2.6e-8 and 2.9e-8 (two draws; the weights that move most are those that part most,
``conv5_block14_2_conv``), so the step records are judged like the inference ones, by the source's own
one-ulp move, now of its step (``parity.fuzz.conditioning.ill_conditioned``). A row that agrees only
with the rule is ``agree with rule keras_torch_batchnorm_one_pass_variance``, with the worst error as
shipped and with the rule; never plain ``agree``. A model with dropout in training mode (the EfficientNets):
source and port draw their own masks, so each is judged against scratch replaying the masks it drew.
Every run of a side's step seeds the generators its masks come from (``TrainRequest.mask_seed``), so
the two-pass rerun and the one-ulp reruns draw the judged run's masks, and the step's condition is
measured as without dropout (EfficientNetB0, one float64 step: 3.8e-7, against at most 8e-7 between
scratch and either side); a rerun that drew other masks measures nothing, and the records stand.
"""

from __future__ import annotations

import gc
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from parity.runners.stored import collecting_only_new_objects
from parity.spec.model import SpecError

# The architectures of keras.applications (Keras 3), each with the smallest input side it accepts.
MIN_INPUT = {
    **{f"ConvNeXt{size}": 32 for size in ("Tiny", "Small", "Base", "Large", "XLarge")},
    **{f"DenseNet{depth}": 32 for depth in (121, 169, 201)},
    **{f"EfficientNetB{i}": 32 for i in range(8)},
    **{f"EfficientNetV2{v}": 32 for v in ("B0", "B1", "B2", "B3", "S", "M", "L")},
    "InceptionResNetV2": 75,
    "InceptionV3": 75,
    "MobileNet": 32,
    "MobileNetV2": 32,
    "MobileNetV3Large": 32,
    "MobileNetV3Small": 32,
    "NASNetLarge": 32,
    "NASNetMobile": 32,
    **{f"ResNet{depth}{v}": 32 for depth in (50, 101, 152) for v in ("", "V2")},
    "VGG16": 32,
    "VGG19": 32,
    "Xception": 71,
}
ARCHITECTURES = tuple(sorted(MIN_INPUT))
# The smallest side at which every BatchNormalization's feature maps are at least 2x2 ("Input size"
# above; tests/test_zoo.py checks it); ConvNeXt and VGG, without BatchNormalization, at their smallest.
DEFAULT_INPUT = {
    **{name: 64 for name, side in MIN_INPUT.items() if side == 32},
    **{f"ConvNeXt{size}": 32 for size in ("Tiny", "Small", "Base", "Large", "XLarge")},
    "VGG16": 32,
    "VGG19": 32,
    "InceptionResNetV2": 107,
    "InceptionV3": 107,
    "Xception": 71,
}
CLASSES = 10
STAGES = ("torch", "keras")  # the torch port, the Keras round trip

FACTORY = '''"""{name} from keras.applications, untrained, {size}x{size}x3 inputs, {classes} classes, logits out (written by parity zoo)."""

import keras


def build():
    model = keras.applications.{name}(weights=None, input_shape=({size}, {size}, 3), include_top=True, classes={classes}, classifier_activation=None)
{scaling}    return model
'''

# keras.applications.NASNetMobile refuses the torch backend, the zoo's Keras worker backend ("not
# available with the torch backend at this time due to an outstanding bug", keras/src/applications/
# nasnet.py). The guard is about wrong predictions of the *pretrained* weights on torch
# (keras-team/keras#18451; later Keras removes it, keras-team/keras#23177); on jax and tensorflow it
# builds. The zoo's source, port and round trip all run in a torch-backend worker (parity.sources,
# parity.porting, parity.ports), so with weights=None it builds the same model through the builder
# NASNetMobile itself calls after the guard, with NASNetMobile's arguments (a private Keras module).
BUILDERS = {
    "NASNetMobile": (
        "keras.src.applications.nasnet.NASNet",
        "penultimate_filters=1056, num_blocks=4, stem_block_filters=32, skip_reduction=False, filter_multiplier=2, "
        'default_size=224, name="nasnet_mobile", ',
        "keras.applications.NASNetMobile refuses the torch backend (a guard about its pretrained weights, "
        "keras-team/keras#18451): built through keras.src.applications.nasnet.NASNet with NASNetMobile's arguments",
    ),
}

FACTORY_BUILDER = '''"""{name} from keras.applications, untrained, {size}x{size}x3 inputs, {classes} classes, logits out (written by parity zoo).

{why}.
"""

import keras
import {module}


def build():
    model = {builder}(input_shape=({size}, {size}, 3), {arguments}weights=None, include_top=True, classes={classes}, classifier_activation=None)
{scaling}    return model
'''


# --branch-scale: the EfficientNet families (keras/src/applications/efficientnet.py and
# efficientnet_v2.py) name each block's parts after the block: a block with a residual connection ends
# its branch with the BatchNormalization ``<block>project_bn`` (then, in training, dropout) and adds it
# to the block's input in ``<block>add``. Only these architectures have branches found by that name.
BRANCH_SCALED = tuple(name for name in MIN_INPUT if name.startswith("EfficientNet"))
SCALING = """    # --branch-scale {scale}: the last BatchNormalization of each residual branch (<block>project_bn, added
    # to the block's input by <block>add) starts at gamma * {scale}: every implementation loads these weights
    for layer in model.layers:
        if layer.name.endswith("_add"):
            norm = model.get_layer(layer.name.removesuffix("add") + "project_bn")
            norm.gamma.assign(norm.gamma * {scale})
"""


def factory_source(name: str, size: int, branch_scale: float = 1.0) -> str:
    """The source.py that builds the architecture: keras.applications.<name>, or its builder (``BUILDERS``);
    with ``branch_scale`` other than 1, each residual branch's last BatchNormalization scaled (``SCALING``)."""
    scaling = "" if branch_scale == 1.0 else SCALING.format(scale=repr(float(branch_scale)))
    if name not in BUILDERS:
        return FACTORY.format(name=name, size=size, classes=CLASSES, scaling=scaling)
    builder, arguments, why = BUILDERS[name]
    module = builder.rsplit(".", 1)[0]
    return FACTORY_BUILDER.format(
        name=name, size=size, classes=CLASSES, why=why, module=module, builder=builder, arguments=arguments, scaling=scaling
    )


_MISSING = re.compile(
    r"layer '(?P<layer>[^']+)': (?:unsupported Keras layer (?P<cls>\w+)|(?P<cls2>\w+): (?P<why>.*?)(?:;|$))"
)


@dataclass
class ZooRow:
    """One architecture: what it is and how its ports fared."""

    name: str
    input_size: int
    status: str  # "agree", "disagree", "degenerate", "ill-conditioned", "unsupported", "error"
    parameters: int | None = None
    layers: int | None = None
    kinds: list[str] = field(default_factory=list)
    worst: dict[str, float] = field(default_factory=dict)  # dtype -> worst relative error over every comparison
    seconds: float = 0.0
    peak_mib: float | None = None
    missing: str | None = None  # "Keras class 'layer name'": the kind the registry lacks
    detail: str | None = None  # first diverging layer, or the error
    rule: str | None = None  # a registered divergence applied to the training steps, worst with and without
    # The same verdict for each part alone (``part_status``): outputs, the input gradient, every parameter
    # gradient and every weight in inference mode, both ways; and the training steps (None without).
    inference: str | None = None
    training: str | None = None
    comparisons: list[dict] = field(default_factory=list)
    arrays: int | None = None  # trainable weight arrays: each has its gradient compared
    branch_scale: float = 1.0  # --branch-scale: the gamma of each residual branch's last BatchNormalization, times this


def check_names(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in MIN_INPUT]
    if unknown:
        raise SpecError(f"unknown architecture {unknown[0]!r}; choose from: {', '.join(ARCHITECTURES)}")
    return list(names)


def check_branch_scale(names: list[str], branch_scale: float) -> None:
    """``--branch-scale`` must be positive (0 would make every gradient inside a branch 0: nothing compared
    there), and other than 1 only for architectures with branches it finds (``BRANCH_SCALED``)."""
    if not 0 < branch_scale < float("inf"):  # NaN fails both comparisons
        raise SpecError(f"--branch-scale must be a positive number, received {branch_scale}")
    others = [name for name in names if name not in BRANCH_SCALED]
    if branch_scale != 1.0 and others:
        raise SpecError(
            f"--branch-scale applies to the EfficientNet architectures (residual branches ending in <block>project_bn); "
            f"{others[0]} has none"
        )


def missing_kind(message: str) -> str | None:
    """``"ReLU 'conv1_relu' (ReLU with max_value ...)"`` from an importer's error, or None if it is another error."""
    match = _MISSING.search(message)
    if match is None:
        return None
    if match["cls"]:
        return f"{match['cls']} '{match['layer']}'"
    return f"{match['cls2']} '{match['layer']}' ({match['why'].strip()})"


# In the worker -----------------------------------------------------------------------------------


def describe_in_worker(source: str) -> dict:
    """Parameters and layers of the Keras model, and its spec's kinds (or the importer's error)."""
    from parity import sources

    error = None
    try:
        spec = sources.describe(source)[1]  # from the build the port then reads and runs (sources._built)
        model = sources._built(source, None, 0, "float64")[0]
    except SpecError as refused:
        error, spec, model = str(refused), None, sources.load_model(source)
    return {
        "parameters": int(model.count_params()),
        "arrays": len(model.trainable_weights),
        "layers": len(model.layers),
        "kinds": [] if spec is None else sorted(set(spec.kinds)),
        "error": error,
    }


def peak_mib_in_worker() -> float:
    return _vm_hwm_mib("self")


# Running -----------------------------------------------------------------------------------------


def _vm_hwm_mib(pid) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _reset_peak() -> None:
    """Reset this process's peak resident memory (Linux: writing 5 to clear_refs), so each architecture has its own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _in_steps(records):
    """Which records (a DataFrame's rows) are the training steps' (a ``step`` of 1 or more); the others are
    the inference-mode quantities."""
    if "step" not in records.columns:
        import pandas as pd

        return pd.Series(False, index=records.index)
    return records["step"].fillna(0) > 0


def _part(comparison, steps: bool) -> str | None:
    """The verdict on one part of a comparison: its inference-mode quantities (outputs, the
    input gradient, every parameter gradient, every weight as held) or its training steps (the loss and
    every weight after each step). None for steps that were not run. A part that fails takes the whole
    comparison's judgment: "ill-conditioned" only where every failure of both parts is rounding the
    source's own one-ulp move exceeds (``parity.fuzz.conditioning.ill_conditioned``), else "disagree";
    a registered rule applies to the steps only."""
    records = comparison.records
    mine = records[_in_steps(records) == steps] if len(records) else records
    if not len(mine):
        return None
    if bool(mine["passed"].all()):
        return "degenerate" if comparison.degenerate and not steps else "agree"
    if steps and comparison.agree_with_rule:
        return f"{AGREE_WITH_RULE} {comparison.rule}"
    return "ill-conditioned" if comparison.ill_conditioned else "disagree"


def _records(comparison, stage: str) -> dict:
    records = comparison.records
    judged = records[records["passed"].notna()] if len(records) else records
    worst = float(judged["max_rel_err"].max()) if len(judged) else float("nan")
    return {
        "stage": stage,
        "dtype": comparison.dtype,
        "agree": comparison.agree,
        "quantities": int(len(records)),
        "gradients": int(records["quantity"].str.startswith("grad:").sum()) if len(records) else 0,
        "worst": worst,
        "first_divergence": comparison.first_divergence,
        "located_by": comparison.located_by,
        "rule": comparison.rule,  # a registered divergence applied to the training steps, or None
        "agree_with_rule": comparison.agree_with_rule,
        "worst_with_rule": comparison.worst_with_rule,
        "degenerate": comparison.degenerate,
        "ill_conditioned": comparison.ill_conditioned,
        "diagnosis": comparison.diagnosis[:5],
        "inference": _part(comparison, steps=False),  # the verdict on the inference-mode quantities alone
        "training": _part(comparison, steps=True),  # the verdict on the training steps alone; None without steps
    }


AGREE_WITH_RULE = "agree with rule"


def status(comparisons: list[dict]) -> str:
    """"disagree" if a comparison disagrees (with any registered rule applied), else "degenerate" if one
    is vacuous, else "ill-conditioned" if only rounding could explain it and one ulp moves the source
    as far, else "agree with rule <divergence>" if one agrees only with a registered divergence's rule
    applied (the figures with and without it in the row), else "agree"."""

    def explained(c: dict) -> bool:
        return c["agree"] or c.get("agree_with_rule", False)

    if any(not explained(c) and not c["degenerate"] and not c.get("ill_conditioned") for c in comparisons):
        return "disagree"
    if any(c["degenerate"] for c in comparisons):
        return "degenerate"
    if any(c.get("ill_conditioned") for c in comparisons):
        return "ill-conditioned"
    rules = sorted({c["rule"] for c in comparisons if not c["agree"] and c.get("agree_with_rule")})
    if rules:
        return f"{AGREE_WITH_RULE} {', '.join(rules)}"
    return "agree"


PART_ORDER = ("error", "disagree", "degenerate", "ill-conditioned", AGREE_WITH_RULE, "agree")


def part_status(verdicts: list[str | None]) -> str | None:
    """One part's verdict over every comparison of an architecture (the worst first, in ``PART_ORDER``);
    None where no comparison ran that part (no training steps)."""
    ran = [v for v in verdicts if v is not None]
    if not ran:
        return None
    return min(ran, key=lambda v: PART_ORDER.index(status_class(v)))


def _rule_detail(comparisons: list[dict]) -> str | None:
    """Each comparison that needed a rule: stage, dtype, worst as shipped and with the rule applied."""
    parts = [
        f"{c['stage']} {c['dtype']}: {c['rule']}: worst {c['worst']:.2e} as shipped, {c['worst_with_rule']:.2e} with its rule"
        for c in comparisons
        if c.get("rule") and c.get("worst_with_rule") is not None
    ]
    return "; ".join(parts) or None


@collecting_only_new_objects()  # the collections inside walk only what this architecture made
def run_architecture(
    name: str,
    out: Path,
    input_size: int | None,
    dtypes: tuple[str, ...],
    stages: tuple[str, ...],
    steps: int,
    seed: int,
    branch_scale: float = 1.0,
) -> ZooRow:
    """One architecture through import, port to torch, port back to Keras, and the comparisons."""
    from parity.porting import port
    from parity.ports import compare, forget_runs
    from parity.runners.pool import close_all, keras_worker

    size = input_size or DEFAULT_INPUT[name]
    row = ZooRow(name, size, "error", branch_scale=branch_scale)
    start = time.perf_counter()
    _reset_peak()
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    factory = folder / "source.py"
    factory.write_text(factory_source(name, size, branch_scale))
    source = f"{factory}:build"
    worker = None
    try:
        worker = keras_worker("torch")
        info = worker.call("parity.zoo:describe_in_worker", source)
        row.parameters, row.layers, row.kinds = info["parameters"], info["layers"], info["kinds"]
        row.arrays = info["arrays"]
        if info["error"]:
            row.missing = missing_kind(info["error"])
            row.status = "unsupported" if row.missing else "error"
            row.detail = info["error"].splitlines()[0]
            return row
        comparisons = []
        ported = port(source, "torch", folder / "torch", None, dtypes, seed=seed, steps=steps)
        comparisons += [_records(c, "torch") for c in ported.comparisons]
        if "keras" in stages:
            # The source and its torch port are built in the worker; the round trip needs neither
            # model (the port is built again at its own input shape, the source's run is remembered).
            worker.call("parity.sources:forget_built")
            torch_shape = (3, size, size)
            back = folder / "keras"
            port(  # not compared with the torch port here: the round trip is compared with the source below
                f"{folder / 'torch'}/model.py:build_with_weights",
                "keras",
                back,
                torch_shape,
                (),
                seed=seed,
                steps=0,
            )
            worker.call("parity.sources:forget_built")  # the port, built to write the round trip's weights
            for dtype in dtypes:
                trip = compare(
                    source, f"{back}/model.py:build_with_weights", dtype=dtype, seed=seed, weights_from="own"
                )
                comparisons.append(_records(trip, "keras"))
        row.comparisons = comparisons
        for c in comparisons:
            row.worst[c["dtype"]] = max(row.worst.get(c["dtype"], 0.0), c["worst"])
        row.status = status(comparisons)
        row.inference = part_status([c["inference"] for c in comparisons])
        row.training = part_status([c["training"] for c in comparisons])
        if name in BUILDERS:
            row.detail = BUILDERS[name][2]  # how it was built, unless a divergence says more below
        row.rule = _rule_detail(comparisons)
        if row.rule:
            row.detail = row.rule
        vacuous = next((c for c in comparisons if c["degenerate"]), None)
        if row.status == "degenerate":
            row.detail = f"{vacuous['stage']} {vacuous['dtype']}: degenerate: {vacuous['degenerate']}"
        shaky = next((c for c in comparisons if c.get("ill_conditioned")), None)
        if row.status == "ill-conditioned":
            row.detail = "; ".join(
                filter(None, [f"{shaky['stage']} {shaky['dtype']}: ill-conditioned: {shaky['ill_conditioned']}", row.rule])
            )
            if shaky["first_divergence"]:  # only the gradients differ: where the backward pass parts
                row.detail += f"; first diverging layer {shaky['first_divergence']}"
        first = next(
            (
                c
                for c in comparisons
                if not (c["agree"] or c.get("agree_with_rule")) and not c["degenerate"] and not c.get("ill_conditioned")
            ),
            None,
        )
        if first is not None:
            where = (
                f"first diverging layer {first['first_divergence']} (by {first['located_by']})"
                if first["first_divergence"]
                else "; ".join(filter(None, [first.get("located_by"), *first["diagnosis"][:1]])) or "disagree"
            )
            row.detail = "; ".join(filter(None, [f"{first['stage']} {first['dtype']}: {where}", row.rule]))
    except Exception as error:  # noqa: BLE001  one architecture's failure is its row, not the run's end
        row.missing = missing_kind(str(error))
        row.status = "unsupported" if row.missing else "error"
        row.detail = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        worker_peak = float("nan")
        if worker is not None and worker.process.poll() is None:
            try:
                worker_peak = worker.call("parity.zoo:peak_mib_in_worker")
            except Exception:  # noqa: BLE001  a dead worker has no peak to report
                pass
        close_all()  # a fresh worker for the next architecture: its memory goes back to the system
        forget_runs()  # and the source's run, kept for the round trip
        gc.collect()
        row.peak_mib = max(_vm_hwm_mib("self"), worker_peak) if worker_peak == worker_peak else _vm_hwm_mib("self")
        row.seconds = time.perf_counter() - start
    return row


def run_zoo(
    names: list[str],
    out: str | Path,
    input_size: int | None = None,
    dtypes: tuple[str, ...] = ("float64", "float32"),
    stages: tuple[str, ...] = STAGES,
    steps: int = 1,
    seed: int = 0,
    progress=None,
    branch_scale: float = 1.0,
) -> list[ZooRow]:
    """Every architecture of ``names`` in turn; writes ``out/zoo.md``, ``out/zoo.html`` and ``out/zoo.json``."""
    check_names(names)
    if input_size is not None and input_size < 32:
        raise SpecError(
            f"--input-size must be 32 or more (the smallest keras.applications accepts), received {input_size}"
        )
    check_branch_scale(names, branch_scale)
    dtypes = tuple(sorted(dtypes, key=lambda dtype: dtype != "float64"))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        if progress is not None:
            progress(name, None)
        row = run_architecture(name, out, input_size, dtypes, stages, steps, seed, branch_scale)
        rows.append(row)
        write(rows, out, dtypes)
        if progress is not None:
            progress(name, row)
    return rows


# Writing -----------------------------------------------------------------------------------------


def _err(value) -> str:
    return "-" if value is None or value != value else f"{value:.2e}"


def _cells(row: ZooRow, dtypes) -> list[str]:
    where = row.missing and f"missing kind: {row.missing}" or row.detail or ""
    return [
        row.name,
        str(row.input_size),
        "-" if row.parameters is None else f"{row.parameters:,}",
        "-" if row.layers is None else str(row.layers),
        ", ".join(row.kinds) or "-",
        *[_err(row.worst.get(dtype)) for dtype in dtypes],
        f"{row.seconds:.1f}",
        "-" if row.peak_mib is None or row.peak_mib != row.peak_mib else f"{row.peak_mib:.0f}",
        row.inference or "-",
        row.training or "-",
        row.status,
        where,
    ]


def _header(dtypes) -> list[str]:
    return [
        "architecture",
        "input",
        "parameters",
        "layers",
        "kinds",
        *[f"worst {d}" for d in dtypes],
        "seconds",
        "peak MiB",
        "inference",
        "training steps",
        "result",
        "first divergence / missing kind",
    ]


INTRO = (
    "Each `keras.applications` architecture, untrained (`weights=None`, `include_top=True`, `classes={classes}`, "
    "`classifier_activation=None`: compared up to its logits), imported to a spec, ported to torch (`parity port`) "
    "and back to Keras. Worst: the largest relative error over outputs, the input gradient, every parameter gradient and every weight of source against torch port "
    "(with optimiser steps in training mode against scratch), and of source against the round trip."
)


def scaled(rows: list[ZooRow]) -> str:
    """The line that says the weights are not Keras' own initialisation (``--branch-scale``), or ""."""
    scales = sorted({r.branch_scale for r in rows if r.branch_scale != 1.0})
    if not scales:
        return ""
    return (
        f"Branch scale {', '.join(f'{c:g}' for c in scales)} (`--branch-scale`): the last BatchNormalization of each "
        "residual branch (`<block>project_bn`) starts at gamma times that, not at Keras' 1, in the source and so in "
        "every implementation that loads its weights."
    )


def markdown(rows: list[ZooRow], dtypes) -> str:
    header = _header(dtypes)
    lines = [
        "# parity zoo",
        "",
        INTRO.format(classes=CLASSES),
        "",
        *([scaled(rows), ""] if scaled(rows) else []),
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in _cells(row, dtypes)) + " |" for row in rows]
    lines += ["", parts_summary(rows), "", summary(rows), ""]
    return "\n".join(lines)


STATUSES = ("agree", AGREE_WITH_RULE, "disagree", "degenerate", "ill-conditioned", "unsupported", "error")


def status_class(result: str) -> str:
    """The row's status without the rule's name (``agree with rule <divergence>`` -> ``agree with rule``)."""
    return AGREE_WITH_RULE if result.startswith(AGREE_WITH_RULE) else result


def summary(rows: list[ZooRow]) -> str:
    """The run in one line: the count of each result, the total time and the largest peak memory."""
    counts = {result: sum(status_class(r.status) == result for r in rows) for result in STATUSES}
    measured = [r for r in rows if r.peak_mib is not None and r.peak_mib == r.peak_mib]
    largest = max(measured, key=lambda r: r.peak_mib, default=None)
    peak = f"largest peak memory {largest.peak_mib:.0f} MiB ({largest.name})" if largest else "no peak memory measured"
    return (
        f"{counts['agree']} of {len(rows)} agree, {counts['disagree']} disagree, {counts['degenerate']} degenerate "
        f"(every gradient zero: nothing compared), {counts['ill-conditioned']} ill-conditioned (one ulp moves the "
        f"source beyond the tolerance: not judged), {counts[AGREE_WITH_RULE]} agree only with a registered divergence's "
        f"rule applied to the training steps (worst with and without it in the row), {counts['unsupported']} unsupported (a missing layer kind), "
        f"{counts['error']} error; {sum(r.seconds for r in rows):.1f} s in all; {peak}."
    )


def parts_summary(rows: list[ZooRow]) -> str:
    """Each part's verdicts counted on their own: the inference-mode quantities (outputs, the input gradient,
    every parameter gradient and every weight, source against torch port and against the round trip) and
    the training steps. A row's result is both together: an architecture whose outputs and gradients
    agree and whose steps one ulp of input moves beyond the trajectory tolerance is "ill-conditioned"."""

    def counts(verdicts: list[str | None]) -> str:
        ran = [status_class(v) for v in verdicts if v is not None]
        told = [f"{ran.count(v)} {v}" for v in PART_ORDER[::-1] if ran.count(v)]
        unrun = len(verdicts) - len(ran)
        return ", ".join(told + ([f"{unrun} not run"] if unrun else [])) or "none"

    return (
        f"Inference mode (outputs, input gradient, every parameter gradient and weight, both ways): "
        f"{counts([r.inference for r in rows])}. Training steps: {counts([r.training for r in rows])}."
    )


# Measures, once the page has loaded, whether the table and each architecture's row were laid out
# with a size and are visible: <body data-rendered="table:ok rows:3/3 agree:1"> (tests/test_browser.py).
SCRIPT = """
window.addEventListener("load", function () {
  function visible(el) {
    if (!el) { return false; }
    var r = el.getBoundingClientRect(), s = window.getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.display !== "none" && s.visibility !== "hidden";
  }
  var table = document.getElementById("zoo");
  var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tr.row")) : [];
  var shown = rows.filter(visible);
  document.body.setAttribute("data-rendered",
    "table:" + (visible(table) ? "ok" : "missing") + " rows:" + shown.length + "/" + rows.length +
    " agree:" + shown.filter(function (r) { return r.classList.contains("pass"); }).length);
});
"""


def html_page(rows: list[ZooRow], dtypes) -> str:
    from parity.report.html import CSS, esc

    classes = {
        "agree": "pass",
        AGREE_WITH_RULE: "rule",
        "disagree": "fail",
        "degenerate": "fail",
        "ill-conditioned": "fail",
        "unsupported": "missing",
        "error": "crashed",
    }
    head = "".join(f"<th>{esc(h)}</th>" for h in _header(dtypes))
    note = f"<p id='scaled'>{esc(scaled(rows))}</p>" if scaled(rows) else ""
    body = "".join(
        f'<tr class="row {classes[status_class(row.status)]}">' + "".join(f"<td>{esc(c)}</td>" for c in _cells(row, dtypes)) + "</tr>"
        for row in rows
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>parity zoo</title><style>{CSS}</style></head>"
        f"<body data-rendered='pending'><header><h1>parity zoo</h1><p>{esc(INTRO.format(classes=CLASSES))}</p>{note}</header><main>"
        f"<table id='zoo'><tr>{head}</tr>{body}</table><p id='parts'>{esc(parts_summary(rows))}</p><p id='summary'>{esc(summary(rows))}</p></main><script>{SCRIPT}</script></body></html>\n"
    )


def write(rows: list[ZooRow], out: Path, dtypes) -> None:
    from parity.output import write_atomic

    write_atomic(out / "zoo.md", markdown(rows, dtypes))
    write_atomic(out / "zoo.html", html_page(rows, dtypes))
    write_atomic(out / "zoo.json", json.dumps([asdict(r) for r in rows], indent=1, default=str) + "\n")
