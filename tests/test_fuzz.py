"""`parity fuzz`: random models drawn valid and reproducible, a planted naive port found and
shrunk to one layer, a clean campaign quiet, workers irrelevant to the outcome, bad input exit 2."""

from __future__ import annotations

import json
import sys

import pytest

from parity.cases import get_case
from parity.cli import main
from parity.fuzz.campaign import Settings, load, run_campaign
from parity.fuzz.draw import FUZZABLE, Trial, draw_model, valid
from parity.fuzz.judge import disagreements, judge
from parity.spec.model import ModelSpec, Node, stack
from parity.tolerance import tolerance
from parity.upstream import all_bugs

PLANTED = Settings(seed=1, budget=6, kinds=("conv2d", "relu", "add"), impls=("torch",), dtypes=("float64",), disabled=("conv_kernel_layout",))
CLEAN = Settings(seed=0, budget=6, kinds=("conv2d", "max_pool2d", "relu", "tanh", "add", "concatenate"), impls=("torch",), dtypes=("float32", "float64"))


def test_draws_are_valid_reproducible_and_include_graphs():
    trials = [draw_model(3, i, FUZZABLE, 4) for i in range(40)]
    assert all(valid(t.spec) is not None for t in trials)
    assert [t.as_dict() for t in trials[:5]] == [draw_model(3, i, FUZZABLE, 4).as_dict() for i in range(5)]
    assert any(not t.spec.is_chain for t in trials), "no add/concatenate graph among 40 models"
    assert len({n.kind for t in trials for n in t.spec.nodes}) >= 12
    magnitudes = [t.magnitude for t in trials]
    assert min(magnitudes) < 1e-1 and max(magnitudes) > 1e1 and all(1e-3 <= m <= 1e3 for m in magnitudes)


def test_found_by_fuzzing_depthwise_strides_are_drawn_equal():
    """keras-tensorflow refuses a DepthwiseConv2D with unequal strides (tensorflow/tensorflow#33005)."""
    strides = {tuple(n.config["strides"]) for i in range(30) for n in draw_model(2026, i, ("depthwise_conv2d",), 1).spec.nodes}
    assert strides == {(1, 1), (2, 2)}


def test_judge_catches_a_planted_rule_and_passes_without_it():
    trial = next(t for t in (draw_model(1, i, ("conv2d",), 1) for i in range(20)) if t.spec.nodes[0].config["filters"] > 1)
    clean = judge(trial, ["torch"], ["float64", "float32"])
    assert clean and all(r.passed for r in clean)
    assert max(r.max_rel_err for r in clean if r.dtype == "float64") <= tolerance("float64")
    float32 = [r for r in clean if r.dtype == "float32"]
    assert float32 and all(r.detail.startswith("noise floors") and r.max_rel_err <= r.tolerance for r in float32)
    planted = disagreements(trial, judge(trial, ["torch"], ["float64", "float32"], ("conv_kernel_layout",)))
    keys = {d.key for d in planted}
    assert ("torch", "float64", "output") in keys and ("torch", "float32", "output") in keys


def test_training_trajectories_are_judged():
    trial = next(t for t in (draw_model(1, i, ("conv2d",), 1) for i in range(20)) if t.spec.nodes[0].config["filters"] > 1)
    clean = [r for r in judge(trial, ["torch"], ["float64"], steps=2) if r.quantity.startswith("train:")]
    assert clean and all(r.passed for r in clean)
    planted = judge(trial, ["torch"], ["float64"], ("conv_kernel_layout",), steps=2)
    assert any(r.quantity.startswith("train:weight:") and r.passed is False for r in planted)


@pytest.mark.parametrize("loss", ["mean_squared_error", "sparse_categorical_crossentropy"])
def test_found_by_fuzzing_a_flattened_image_output_meets_its_loss_in_canonical_order(loss):
    """Found by `parity fuzz`: torch's loss read a model's flattened NCHW output in torch's (C, H, W)
    order while the targets follow the canonical (H, W, C) one (loss and loss gradients off by ~5%)."""
    spec = stack("flat", (2, 3, 2), [("conv2d", {"filters": 3, "kernel_size": [1, 1]}), ("flatten", {})])
    trial = Trial(spec, batch=3, magnitude=2.0, data_seed=5, loss=loss, optimizer="adam")
    records = judge(trial, ["torch"], ["float64"], steps=2)
    assert {"loss", "loss_grad:conv2d_0.W", "train:loss"} <= {r.quantity for r in records}
    assert all(r.passed for r in records), [(r.quantity, r.max_rel_err) for r in records if not r.passed]


def test_found_by_fuzzing_a_merge_of_two_torch_layouts_is_joined():
    """Found by `parity fuzz`: the generated torch model concatenated a Conv1d's (B, C, L) output with
    the (B, L, F) input (a RuntimeError, or for an add of equal sizes a silently wrong sum). The
    generator now permutes a merge's later inputs to the first one's layout (ConvNeXt's residual add
    of an NHWC branch to an NCHW map needs it), and the model agrees."""
    from parity.spec.generate import build_scratch, build_torch
    from parity.spec.model import INPUT, ModelSpec, Node

    nodes = (
        Node("relu_0", "relu", {}, (INPUT,)),  # reads any layout: the input stays (B, L, F)
        Node("conv1d_0", "conv1d", {"filters": 3, "kernel_size": 1}, ("relu_0",)),  # (B, C, L)
        Node("add_0", "add", {}, ("conv1d_0", "relu_0")),
    )
    spec = ModelSpec("mixed", (3, 3), nodes)
    build_scratch(spec)
    assert build_torch(spec).joins == {"add_0": {1: ("canonical", "channels_first")}}
    assert valid(spec) is not None
    trial = Trial(spec, batch=2, magnitude=1.0, data_seed=5, loss="mean_squared_error")
    records = judge(trial, ["torch"], ["float64"], steps=0)
    assert records and all(r.passed for r in records), [(r.quantity, r.max_rel_err) for r in records if not r.passed]


@pytest.mark.parametrize("image", [(1, 1, 1), (2, 3, 2)])
def test_found_by_fuzzing_a_concatenation_of_flattened_maps_is_refused_in_one_line(image):
    """Found by `parity fuzz --seed 2026` (model 21): flatten -> concatenate(flatten, flatten) on an
    image; torch.cat of two flattened NCHW maps is two channels-first blocks, which the one flattened
    source the layout follows does not describe (the torch runner crashed reshaping the cotangent)."""
    from parity.spec.generate import build_torch
    from parity.spec.model import SpecError

    spec = stack("cat", image, [("flatten", {})])
    spec = ModelSpec("cat", image, (*spec.nodes, Node("concatenate_0", "concatenate", {"axis": -1}, ("flatten_0", "flatten_0"))))
    with pytest.raises(SpecError, match=r"layer 'concatenate_0' \(concatenate\): joins flattened channels-first maps") as error:
        build_torch(spec)
    assert "\n" not in str(error.value)
    assert valid(spec) is None  # so the fuzzer no longer draws it
    assert valid(stack("flat", image, [("flatten", {}), ("relu", {})])) is not None  # one flattened map still is


@pytest.mark.parametrize("kind", ["layer_norm", "batch_norm"])
def test_found_by_fuzzing_per_feature_weights_after_a_channels_first_flatten_are_refused_in_one_line(kind):
    """Found by `parity fuzz --seed 2026` (model 21, once flatten -> concatenate was no longer drawn):
    flatten -> layer_norm on a (1, 2, 2) map. torch's LayerNorm / BatchNorm1d weights follow the
    flattened (C, H, W) order, scratch's and Keras' (H, W, C); no converter but dense's reorders
    them (rule flatten_order), so torch's output differed by 0.54 relative. Refused by name; Dense
    after a flatten, and a per-feature layer after a channels-last (canonical) flatten, still build."""
    from parity.spec.generate import build_torch
    from parity.spec.model import SpecError

    spec = stack("flat_norm", (1, 2, 2), [("flatten", {}), (kind, {})])
    with pytest.raises(SpecError, match=rf"layer '{kind}_0' \({kind}\): its per-feature weights would follow a flattened"):
        build_torch(spec)
    assert valid(spec) is None  # so the fuzzer no longer draws it
    assert valid(stack("flat_dense", (1, 2, 2), [("flatten", {}), ("dense", {"units": 3})])) is not None
    assert valid(stack("seq_norm", (3, 2), [("flatten", {}), (kind, {})])) is not None  # a sequence: torch keeps (T, F)


def test_planted_rule_is_found_and_shrunk_to_one_layer(tmp_path):
    outcome = run_campaign(PLANTED)
    assert outcome.tried == PLANTED.budget
    assert outcome.findings, "the switched-off conv_kernel_layout rule went unnoticed"
    for finding in outcome.findings:
        assert [n.kind for n in finding.trial.spec.nodes] == ["conv2d"], finding.trial.spec
        assert finding.layer == "conv2d_0"
        assert finding.disagreement.impl == "torch" and finding.disagreement.error > tolerance("float64")
        assert finding.trial.size <= finding.original.size


# rule -> (the layer kind it belongs to, a campaign seed, the smallest budget that finds it)
PLANTED_RULES = {
    "flatten_order": ("flatten", 82, 3),  # model 2: flatten -> dense on a (H, W, C) map
    "conv_kernel_layout": ("conv2d", 18, 1),
    "gru_gate_order": ("gru", 15, 1),
    "batchnorm_epsilon": ("batch_norm", 45, 1),  # a framework default: planted as epsilon=None
}


@pytest.mark.parametrize("rule", sorted(PLANTED_RULES))
def test_each_planted_rule_is_found_by_a_small_campaign_and_shrunk(rule):
    """A campaign over every fuzzable kind (no --kinds narrowing), of at most 100 models (here the
    fewest that find it for this seed), finds the switched-off rule and shrinks it to at most 3
    layers that still contain the kind the rule belongs to. Only torch is judged, in float64:
    each of these rules is a torch-side conversion (the Keras implementations never read it), and
    the float64 oracle is the one with the tightest tolerance."""
    kind, seed, budget = PLANTED_RULES[rule]
    assert budget <= 100
    from parity.cli.fuzz import framework_defaults

    defaults = tuple(spec for name, spec in framework_defaults().items() if name == rule)
    settings = Settings(seed=seed, budget=budget, impls=("torch",), dtypes=("float64",), disabled=(rule,), defaults=defaults)
    outcome = run_campaign(settings)
    hits = [f for f in outcome.findings if kind in {n.kind for n in f.trial.spec.nodes}]
    assert hits, f"--disable-rule {rule}: no finding contains {kind} in {outcome.tried} models: {outcome.findings}"
    for finding in hits:
        assert len(finding.trial.spec.nodes) <= 3, finding.trial.spec
        assert finding.disagreement.error > tolerance("float64")
        assert finding.layer is not None and finding.trial.size <= finding.original.size
    clean = run_campaign(Settings(**{**settings.__dict__, "disabled": (), "defaults": ()}))  # the converted port: quiet
    assert not [f for f in clean.findings if f.disagreement.key in {h.disagreement.key for h in hits}]


def test_a_framework_default_is_planted_as_none():
    from parity.fuzz.draw import plant

    trial = next(t for t in (draw_model(45, i, FUZZABLE, 4) for i in range(5)) if any(n.kind == "batch_norm" for n in t.spec.nodes))
    from parity.cli.fuzz import framework_defaults

    assert framework_defaults()["batchnorm_epsilon"] == ("batch_norm", ("epsilon",))
    planted = plant(trial, [framework_defaults()["batchnorm_epsilon"]])
    assert all(n.config["epsilon"] is None for n in planted.spec.nodes if n.kind == "batch_norm")
    assert all(n.config["epsilon"] is not None for n in trial.spec.nodes if n.kind == "batch_norm")
    assert plant(trial, ()) == trial


def test_draws_follow_the_loss_rules_so_keras_tensorflow_logits_are_no_finding():
    """Divergence tf_from_logits_after_activation: keras-tensorflow's cross-entropies read the logits
    behind a final sigmoid/softmax (also through linear and inference Dropout, which return their
    input tensor). The fuzzer draws by the rule (no cross-entropy on such a model); the naive
    combination is shown to be a difference, the rule-following one to agree."""
    from parity.fuzz.draw import CROSS_ENTROPIES, ends_in_activation

    trials = [draw_model(5, i, FUZZABLE, 4) for i in range(60)]
    ending = [t for t in trials if ends_in_activation(t.spec)]
    assert ending, "no model ending in sigmoid/softmax among 60"
    assert not [t.spec for t in ending if t.loss in CROSS_ENTROPIES]
    spec = stack("logits", (4,), [("dense", {"units": 3}), ("softmax", {}), ("linear", {})])
    assert ends_in_activation(spec)
    naive = Trial(spec, batch=3, magnitude=1.0, data_seed=1, loss="sparse_categorical_crossentropy")
    ruled = Trial(spec, batch=3, magnitude=1.0, data_seed=1, loss="mean_squared_error")
    assert {d.quantity for d in disagreements(naive, judge(naive, ["keras-tensorflow"], ["float64"]))} >= {"loss"}
    records = judge(ruled, ["keras-tensorflow"], ["float64"])
    assert records and all(r.passed for r in records)


def test_cli_writes_findings_that_rerun(tmp_path):
    out = tmp_path / "fuzz"
    argv = ["fuzz", "--budget", "6", "--seed", "1", "--kinds", "conv2d,relu,add", "--impl", "torch", "--dtype", "float64"]
    assert main([*argv, "--disable-rule", "conv_kernel_layout", "--out", str(out), "--json", str(tmp_path / "f.json")]) == 1
    files = sorted((out / "findings").glob("*.json"))
    assert files and (out / "summary.md").read_text().count("scratch vs torch") == len(files)
    assert len(json.loads((tmp_path / "f.json").read_text())["findings"]) == len(files)
    finding = json.loads(files[0].read_text())
    assert finding["disabled_rules"] == ["conv_kernel_layout"] and finding["layer"] == "conv2d_0"
    assert main(["check", "--spec", str(files[0])]) == 1
    assert main(["inspect", "--spec", str(files[0])]) == 1
    finding["disabled_rules"] = []  # the converted port: the same model agrees
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(finding))
    assert load(fixed).disabled == ()
    assert main(["check", "--spec", str(fixed)]) == 0
    assert main(["inspect", "--spec", str(fixed)]) == 0


def test_clean_campaign_finds_nothing(tmp_path, capsys):
    assert main(["fuzz", "--budget", "6", "--kinds", ",".join(CLEAN.kinds), "--impl", "torch", "--out", str(tmp_path)]) == 0
    # not a terminal: a progress line per batch of models, for a campaign's log file
    assert "fuzz: 6 models, 0 finding(s)" in capsys.readouterr().out
    assert not list((tmp_path / "findings").glob("*.json"))
    summary = (tmp_path / "summary.md").read_text()
    assert "6 models in" in summary and "0 finding(s)" in summary


def test_two_workers_equal_one():
    settings = Settings(**{**PLANTED.__dict__, "budget": 4})
    one = run_campaign(settings)
    two = run_campaign(Settings(**{**settings.__dict__, "workers": 2}))
    assert one.findings
    assert [f.as_dict(settings) for f in one.findings] == [f.as_dict(settings) for f in two.findings]
    assert one.tried == two.tried == 4


@pytest.mark.parametrize(
    "argv",
    [
        ["--budget", "0"],
        ["--time", "-1"],
        ["--budget", "2", "--time", "3"],
        ["--workers", "0"],
        ["--kinds", "nope"],
        ["--kinds", "embedding"],
        ["--kinds", "add,concatenate"],
        ["--kinds", ""],
        ["--steps", "-1"],
        ["--impl", "scratch"],
        ["--impl", "nope"],
        ["--dtype", "float16"],
        ["--disable-rule", "nope"],
    ],
)
def test_bad_input_exits_2(argv, tmp_path, capsys):
    assert main(["fuzz", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("parity:") and "\n" not in err


def test_ray_equals_one_worker():
    """--ray: a local cluster of two actors, each with its own implementations, finds what one process finds."""
    import ray  # in the dev extra: this test runs wherever the tests do

    settings = Settings(**{**PLANTED.__dict__, "budget": 4})
    one = run_campaign(settings)
    on_ray = run_campaign(Settings(**{**settings.__dict__, "workers": 2, "ray": "local"}))
    assert one.findings
    assert [f.as_dict(settings) for f in one.findings] == [f.as_dict(settings) for f in on_ray.findings]
    assert one.tried == on_ray.tried == 4
    assert not ray.is_initialized()  # the local cluster is shut down after the campaign


# A Ray cluster of its own, in another process: what `ray start --head` gives a user, stopped by this
# process (ray.shutdown() in the process that started it) rather than by `ray stop`, which would stop
# every Ray cluster on the machine.
RAY_HEAD = """
import sys, ray
ray.init(num_cpus=1, object_store_memory=OBJECT_STORE_BYTES, include_dashboard=False, log_to_driver=False, configure_logging=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes the pipe
ray.shutdown()
"""


def test_ray_address_joins_a_running_cluster_and_equals_one_worker():
    """--ray ADDRESS: the campaign joins a cluster it did not start, finds what one process finds, and
    leaves the cluster running."""
    import subprocess

    import ray

    from parity.fuzz.cluster import OBJECT_STORE_BYTES

    head = subprocess.Popen(
        [sys.executable, "-c", f"OBJECT_STORE_BYTES = {OBJECT_STORE_BYTES}\n" + RAY_HEAD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"
        settings = Settings(**{**PLANTED.__dict__, "budget": 2})
        one = run_campaign(settings)
        joined = run_campaign(Settings(**{**settings.__dict__, "ray": address}))
        assert one.findings
        assert [f.as_dict(settings) for f in one.findings] == [f.as_dict(settings) for f in joined.findings]
        assert one.tried == joined.tried == 2
        assert not ray.is_initialized()  # disconnected
        assert head.poll() is None  # and the cluster it joined still runs
    finally:
        head.stdin.close()
        head.wait(timeout=120)


def test_ray_is_reported_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: the import fails
    assert main(["fuzz", "--ray", "--out", str(tmp_path)]) == 2
    assert "ray is not installed" in capsys.readouterr().err


def test_bad_spec_file_exits_2(tmp_path):
    assert main(["check", "--spec", str(tmp_path / "missing.json")]) == 2
    (tmp_path / "bad.json").write_text("[1]")
    assert main(["inspect", "--spec", str(tmp_path / "bad.json")]) == 2
    assert main(["check", "mlp", "--spec", str(tmp_path / "bad.json")]) == 2


# Known upstream bugs (parity.upstream) --------------------------------------------------------


SLOW_CONV2D = all_bugs()["torch_slow_conv2d_noncontiguous_grad_weight"]


def _hits_the_slow_conv2d_bug(seed, index, kinds, max_layers):
    """Every model the one conv2d that makes torch's slow_conv2d backward raise under keras-torch in float64."""
    case = get_case(SLOW_CONV2D.case)
    return Trial(case.model_spec(case.configure(SLOW_CONV2D.config)), 1, 1.0, 1231193962 + index, "mean_squared_error")


KNOWN_BUG = Settings(seed=0, budget=2, impls=("keras-torch",), dtypes=("float64",))


def test_a_known_upstream_bug_is_reported_as_known_not_as_a_finding(monkeypatch, tmp_path):
    import parity.fuzz.campaign as campaign

    monkeypatch.setattr(campaign, "draw_model", _hits_the_slow_conv2d_bug)
    outcome = run_campaign(KNOWN_BUG)
    assert outcome.tried == 2 and not outcome.findings
    assert [(k.name, k.impl, k.dtype, k.index, k.seen) for k in outcome.known] == [
        ("torch_slow_conv2d_noncontiguous_grad_weight", "keras-torch", "float64", 0, 2)
    ]
    campaign.write_findings(outcome, KNOWN_BUG, tmp_path)
    assert "torch_slow_conv2d_noncontiguous_grad_weight (pytorch/vision#6001" in (tmp_path / "summary.md").read_text()


def test_without_the_registry_the_same_crash_is_a_finding(monkeypatch):
    """The control: the models above do crash keras-torch, so the test above can fail."""
    import parity.fuzz.campaign as campaign
    import parity.upstream as upstream

    monkeypatch.setattr(campaign, "draw_model", _hits_the_slow_conv2d_bug)
    monkeypatch.setattr(upstream, "BUGS", [])
    outcome = run_campaign(Settings(**{**KNOWN_BUG.__dict__, "budget": 1}))
    assert not outcome.known
    assert [(f.disagreement.impl, f.disagreement.status) for f in outcome.findings] == [("keras-torch", "crashed")]
    assert "slow_conv2d: grad_weight must be contiguous" in outcome.findings[0].disagreement.detail
