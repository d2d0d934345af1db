"""The recurrent layer torch lacks: Keras' GRU with the reset gate before the matmul.

Keras' ``GRU(reset_after=False)`` has no PyTorch layer: nn.GRU always applies the
reset gate after the recurrent matmul. ``GRUResetBefore`` writes the other form from
torch ops, with nn.GRU's parameter names and gate order, so that one state_dict
layout serves both.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class GRUResetBefore(nn.Module):
    """GRU with the reset gate applied BEFORE the recurrent matmul (Keras' ``reset_after=False``).

    PyTorch has no such layer: nn.GRU computes ``r_t * (W_hn h_{t-1} + b_hn)``
    (torch/nn/modules/rnn.py, class GRU). Keras' ``GRU(reset_after=False)``
    (keras/src/layers/rnn/gru.py, GRUCell.call) computes ``(r_t * h_{t-1}) @ U_h``.
    This module writes Keras' formula with torch ops, in nn.GRU's conventions::

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + W_hn (r_t * h_{t-1}) + b_hn)   # nn.GRU: r_t * (W_hn h_{t-1} + b_hn)
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    Parameters, named and ordered as nn.GRU's (so a state_dict loads into either):
        weight_ih_l0: (3H, F), blocks (W_ir | W_iz | W_in)   # gate order r, z, n
        weight_hh_l0: (3H, H), blocks (W_hr | W_hz | W_hn)
        bias_ih_l0, bias_hh_l0: (3H,)                        # only if bias
    Here b_hn sits outside the reset gate, so b_ih + b_hh is the only bias that
    matters (as for nn.RNN and nn.LSTM). Initialisation is nn.GRU's:
    U(-1/sqrt(H), 1/sqrt(H)) for every parameter.

    Shapes:
        input: (B, T, F) if batch_first else (T, B, F)
        hx: (1, B, H) or None (zeros)
        output: like input, with H features; h_n: (1, B, H)

    Args:
        input_size: F.
        hidden_size: H.
        bias: whether the two biases exist.
        batch_first: as nn.GRU's.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, batch_first: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        H = hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * H, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * H, H))
        if bias:
            self.bias_ih_l0 = nn.Parameter(torch.empty(3 * H))
            self.bias_hh_l0 = nn.Parameter(torch.empty(3 * H))
        else:
            self.register_parameter("bias_ih_l0", None)
            self.register_parameter("bias_hh_l0", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = input if self.batch_first else input.transpose(0, 1)  # (B, T, F)
        B, T, _ = x.shape
        H = self.hidden_size
        h = x.new_zeros(B, H) if hx is None else hx[0]  # (B, H)
        gi = x @ self.weight_ih_l0.T  # (B, T, 3H): the input projection of every step at once
        if self.bias_ih_l0 is not None:
            gi = gi + self.bias_ih_l0
        W_rz, W_n = self.weight_hh_l0[: 2 * H], self.weight_hh_l0[2 * H :]  # (2H, H), (H, H)
        b_rz = b_n = None
        if self.bias_hh_l0 is not None:
            b_rz, b_n = self.bias_hh_l0[: 2 * H], self.bias_hh_l0[2 * H :]
        outputs = []
        for t in range(T):
            gh = h @ W_rz.T  # (B, 2H): r and z see h_{t-1} itself
            if b_rz is not None:
                gh = gh + b_rz
            r, z = torch.sigmoid(gi[:, t, : 2 * H] + gh).chunk(2, dim=1)  # (B, H) each
            hn = (r * h) @ W_n.T  # reset BEFORE the matmul
            if b_n is not None:
                hn = hn + b_n
            n = torch.tanh(gi[:, t, 2 * H :] + hn)
            h = (1 - z) * n + z * h
            outputs.append(h)
        output = torch.stack(outputs, dim=1)  # (B, T, H)
        if not self.batch_first:
            output = output.transpose(0, 1)  # (T, B, H)
        return output, h.unsqueeze(0)  # h_n: (1, B, H)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih_l0 is not None}, batch_first={self.batch_first}"
        )
