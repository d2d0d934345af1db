"""The divergence cases of every family, by name.

Each family module lists its own cases (``DIVERGENCES``); this package collects them,
and nothing in a family imports it back. ``parity.divergences.base`` says what a
divergence case is and runs one.
"""

from collections.abc import Iterable

from parity.case import CaseError
from parity.divergences import (
    attention,
    conv,
    dense,
    embedding,
    merge,
    norm,
    preprocessing,
    recurrent,
    tensor_ops,
    training,
    transformer,
)
from parity.divergences.base import Divergence

DIVERGENCES: dict[str, Divergence] = {}
for _family in (conv, dense, recurrent, norm, merge, preprocessing, training, attention, transformer, embedding, tensor_ops):
    for _divergence in _family.DIVERGENCES:
        if _divergence.name in DIVERGENCES:
            raise ValueError(f"divergence {_divergence.name!r} registered twice")
        DIVERGENCES[_divergence.name] = _divergence


def all_divergences() -> dict[str, Divergence]:
    return dict(DIVERGENCES)


def get_divergence(name: str) -> Divergence:
    if name not in DIVERGENCES:
        raise CaseError(f"unknown divergence {name!r}; choose from: {', '.join(sorted(DIVERGENCES))}")
    return DIVERGENCES[name]


def select(names: Iterable[str] | None = None) -> list[Divergence]:
    """The named divergence cases (all of them, sorted, when ``names`` is empty)."""
    names = list(names or [])
    unknown = [n for n in names if n not in DIVERGENCES]
    if unknown:
        raise CaseError(f"unknown divergence {unknown[0]!r}; choose from: {', '.join(sorted(DIVERGENCES))}")
    return [DIVERGENCES[n] for n in (names or sorted(DIVERGENCES))]
