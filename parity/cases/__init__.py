"""The case registry: every family's cases, by name.

Each family module lists its own cases (``CASES``); this package collects them, and
nothing in a family imports it back. ``parity.case`` holds the ``Case`` dataclass.
"""

from parity.case import Case, CaseError
from parity.cases import (
    attention,
    conv,
    dense,
    embedding,
    merge,
    models,
    norm,
    pooling,
    preprocessing,
    recurrent,
    tensor_ops,
    transformer,
)

CASES: dict[str, Case] = {}
for _family in (conv, dense, recurrent, norm, pooling, merge, preprocessing, attention, transformer, embedding, tensor_ops, models):
    for _case in _family.CASES:
        if _case.name in CASES:
            raise ValueError(f"case {_case.name!r} registered twice")
        CASES[_case.name] = _case


def get_case(name: str) -> Case:
    if name not in CASES:
        raise CaseError(f"unknown model {name!r}; choose from: {', '.join(sorted(CASES))}")
    return CASES[name]


def all_cases() -> dict[str, Case]:
    return dict(CASES)
