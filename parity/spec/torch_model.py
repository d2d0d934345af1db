"""The torch module generated from a spec: the registry's modules, called in the spec's order."""

from __future__ import annotations

import torch
from torch import nn

from parity.layers import CANONICAL, CHANNELS_FIRST, REGISTRY
from parity.spec.model import INPUT, ModelSpec

# How a tensor moves between two layouts: the channel axis to the end or to the front.
PERMUTES = {
    (CHANNELS_FIRST, CANONICAL): lambda x: x.movedim(1, -1),  # (B, C, *S) -> (B, *S, C)
    (CANONICAL, CHANNELS_FIRST): lambda x: x.movedim(-1, 1),  # (B, *S, C) -> (B, C, *S)
}


def torch_key(name: str) -> str:
    """A layer's name as a torch submodule name (no dots)."""
    return name.replace(".", "_")


class SpecModel(nn.Module):
    """Applies each layer to the outputs of the layers it reads, as the spec says.

    Submodules are named after the spec's layers (dots become underscores), so
    ``model.get_submodule(torch_key(name))`` is layer ``name`` and its state_dict keys are
    ``<key>.<parameter>``. Images are NCHW, as every torch.nn image module reads them.
    ``permutes[name] = (given, read)``: the layer's input is permuted first (nn.Conv1d's
    (B, C, L) output read by an nn.LSTM, which reads (B, L, C)); ``joins[name] = {i: (given,
    read)}``: a merge's input i is permuted to the first input's layout.

    ``forward(x, probe=False)``: with ``probe``, a zero tensor P requiring grad is added to every
    layer's output and kept in ``probes`` (dL/dP is dL/d(output)); after each call ``values``
    holds every layer's output.
    """

    def __init__(
        self,
        spec: ModelSpec,
        modules: dict[str, nn.Module],
        permutes: dict[str, tuple[str, str]] | None = None,
        joins: dict[str, dict[int, tuple[str, str]]] | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.permutes = dict(permutes or {})  # node -> (layout it is given, layout it reads)
        self.joins = dict(joins or {})  # node -> {input index: (layout it is given, layout it reads)}
        self.layers = nn.ModuleDict({torch_key(name): module for name, module in modules.items()})
        self.values: dict[str, torch.Tensor] = {}
        self.probes: dict[str, torch.Tensor] = {}

    def extra_repr(self) -> str:
        lines = [f"permute before {name}: {a} -> {b}" for name, (a, b) in self.permutes.items()]
        lines += [f"permute input {i} of {name}: {a} -> {b}" for name, join in self.joins.items() for i, (a, b) in join.items()]
        return "\n".join(lines)

    def module(self, name: str) -> nn.Module:
        return self.layers[torch_key(name)]

    def forward(self, x: torch.Tensor, probe: bool = False) -> torch.Tensor:
        values = {INPUT: x}
        self.probes = {}
        for node in self.spec.nodes:
            kind = REGISTRY[node.kind]
            module = self.layers[torch_key(node.name)]
            args = [values[i] for i in node.inputs]
            if node.name in self.permutes:
                args[0] = PERMUTES[self.permutes[node.name]](args[0])
            for i, relayout in self.joins.get(node.name, {}).items():
                args[i] = PERMUTES[relayout](args[i])
            y = kind.torch.call(module, kind.configure(node.config), *args) if kind.torch.call else module(*args)
            if probe:
                self.probes[node.name] = P = torch.zeros_like(y, requires_grad=True)
                y = y + P
            values[node.name] = y
        self.values = values
        return values[self.spec.output]
