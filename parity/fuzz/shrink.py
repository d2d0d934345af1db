"""Shrinking a disagreement to the smallest model that still shows it, with hypothesis' engine.

The search space is the failing trial's own sub-models (``smaller``): each layer kept or
dropped (a dropped layer's readers read what it read), each integer of each kept layer's
configuration (units, filters, kernel sizes, strides, dilations, paddings, heads) at most its
value, each input axis and the batch at most theirs, the input magnitude either 1 or its
value. Hypothesis draws sub-models, and once one shows the same disagreement (same
implementation, dtype and quantity signature, ``parity.fuzz.judge``) shrinks it: fewer
layers first, then smaller numbers. Everything runs derandomized from the campaign seed and
without an example database, so the same seed shrinks to the same model.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from parity.fuzz.draw import Trial, losses_for, valid, well_conditioned
from parity.fuzz.judge import Disagreement, disagreements, judge
from parity.spec.model import INPUT, ModelSpec, Node, SpecError

# How many sub-models hypothesis draws before it gives up finding one that disagrees
# (the shrink phase that follows has hypothesis' own limits).
SHRINK_EXAMPLES = 60


def _smaller_value(value, floor: int):
    """A strategy for a value at most ``value``: integers shrink, lists element by element, the rest stays."""
    if isinstance(value, bool) or not isinstance(value, (int, list, tuple)):
        return st.just(value)
    if isinstance(value, int):
        return st.integers(min(floor, value), value)
    return st.tuples(*(_smaller_value(v, floor) for v in value)).map(list)


FLOORS = {"padding": 0}  # every other integer is at least 1


@st.composite
def smaller(draw, trial: Trial) -> Trial:
    """A sub-model of ``trial`` (see the module docstring); invalid ones are rejected."""
    spec = trial.spec
    keep = [draw(st.booleans()) for _ in spec.nodes]
    input_shape = tuple(draw(st.integers(1, d)) for d in spec.input_shape)
    batch = draw(st.integers(1, trial.batch))
    magnitude = draw(st.sampled_from([1.0, trial.magnitude]))
    reads: dict[str, str] = {INPUT: INPUT}
    nodes: list[Node] = []
    counts: dict[str, int] = {}
    for node, kept in zip(spec.nodes, keep):
        # Drawn for a dropped layer too, so that dropping one leaves the others' choices in place.
        config = {key: draw(_smaller_value(value, FLOORS.get(key, 1))) for key, value in node.config.items()}
        if not kept:
            reads[node.name] = reads[node.inputs[0]]
            continue
        name = f"{node.kind}_{counts.get(node.kind, 0)}"
        counts[node.kind] = counts.get(node.kind, 0) + 1
        nodes.append(Node(name, node.kind, config, tuple(reads[i] for i in node.inputs)))
        reads[node.name] = name
    assume(nodes)
    try:
        candidate = ModelSpec(spec.name, input_shape, tuple(nodes))
    except SpecError:
        assume(False)
    shapes = valid(candidate)
    assume(shapes is not None and well_conditioned(candidate, shapes, batch, trial.training))
    assume(trial.loss in losses_for(candidate, shapes[candidate.output]))  # the loss rules hold while shrinking
    return Trial(candidate, batch, magnitude, trial.data_seed, trial.loss, trial.training, trial.optimizer)


class _Shows(Exception):
    """Raised by the property when a sub-model shows the disagreement (hypothesis shrinks it)."""

    def __init__(self, trial: Trial) -> None:
        super().__init__("shows the disagreement")
        self.trial = trial


def shows(trial: Trial, target: Disagreement, disabled: tuple[str, ...], steps: int = 0) -> Disagreement | None:
    """The disagreement of ``trial`` with ``target``'s key, if it has one."""
    try:
        records = judge(trial, [target.impl], [target.dtype], disabled, steps if target.signature.startswith("train:") else 0)
    except (SpecError, ValueError):
        return None
    for found in disagreements(trial, records):
        if found.key == target.key:
            return found
    return None


def shrink(
    trial: Trial, target: Disagreement, disabled: tuple[str, ...] = (), seed: int = 0, examples: int = SHRINK_EXAMPLES, steps: int = 0
) -> tuple[Trial, Disagreement]:
    """The smallest sub-model of ``trial`` hypothesis finds that shows ``target``; ``trial`` itself if none."""

    @settings(
        database=None,
        max_examples=examples,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )
    @hypothesis_seed(seed)
    @given(smaller(trial))
    def property_(candidate: Trial) -> None:
        if shows(candidate, target, disabled, steps) is not None:
            raise _Shows(candidate)

    best, found = trial, target
    try:
        property_()
    except _Shows as shown:
        small = replace(shown.trial, spec=replace(shown.trial.spec, name=trial.spec.name))
        again = shows(small, target, disabled, steps)
        if again is not None and small.size <= trial.size:
            best, found = small, again
    return best, found
