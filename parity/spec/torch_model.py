"""The torch module generated from a spec: the registry's modules, called in the spec's order."""

from __future__ import annotations

import torch
from torch import nn

from parity.layers import REGISTRY
from parity.spec.model import INPUT, ModelSpec


def torch_key(name: str) -> str:
    """A layer's name as a torch submodule name (no dots)."""
    return name.replace(".", "_")


class SpecModel(nn.Module):
    """Applies each layer to the outputs of the layers it reads, as the spec says.

    Submodules are named after the spec's layers (dots become underscores), so
    ``model.get_submodule(torch_key(name))`` is layer ``name`` and its state_dict keys are
    ``<key>.<parameter>``. Images are NCHW, as every torch.nn image module reads them.

    ``forward(x, probe=False)``: with ``probe``, a zero tensor P requiring grad is added to every
    layer's output and kept in ``probes`` (dL/dP is dL/d(output)); after each call ``values``
    holds every layer's output.
    """

    def __init__(self, spec: ModelSpec, modules: dict[str, nn.Module]) -> None:
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleDict({torch_key(name): module for name, module in modules.items()})
        self.values: dict[str, torch.Tensor] = {}
        self.probes: dict[str, torch.Tensor] = {}

    def module(self, name: str) -> nn.Module:
        return self.layers[torch_key(name)]

    def forward(self, x: torch.Tensor, probe: bool = False) -> torch.Tensor:
        values = {INPUT: x}
        self.probes = {}
        for node in self.spec.nodes:
            kind = REGISTRY[node.kind]
            module = self.layers[torch_key(node.name)]
            args = [values[i] for i in node.inputs]
            y = kind.torch.call(module, kind.configure(node.config), *args) if kind.torch.call else module(*args)
            if probe:
                self.probes[node.name] = P = torch.zeros_like(y, requires_grad=True)
                y = y + P
            values[node.name] = y
        self.values = values
        return values[self.spec.output]
