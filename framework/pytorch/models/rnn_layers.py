"""Single recurrent layers in torch.nn, each a small module that returns what Keras' layer returns.

nn.RNN, nn.LSTM and nn.GRU return ``(out, h_n)`` (``(out, (h_n, c_n))`` for the LSTM;
torch/nn/modules/rnn.py); Keras' layers return every step's hidden state or only the last
(``return_sequences``). So ``forward`` unpacks the pair and keeps ``out`` or ``out[:, -1]``.
Inputs are batch-first, (B, T, F): every recurrent module is built with ``batch_first=True``
(torch's default reads (T, B, F)).
"""

from __future__ import annotations

import torch
from torch import nn

from framework.pytorch.recurrent import GRUResetBefore


class SimpleRNN(nn.Module):
    """h_t = tanh(x_t W_ih^T + b_ih + h_(t-1) W_hh^T + b_hh), through nn.RNN.

    Shapes:
        x: (B, T, F)  ->  (B, T, H) if return_sequences else (B, H)
        rnn.weight_ih_l0: (H, F);  rnn.weight_hh_l0: (H, H);  rnn.bias_ih_l0, rnn.bias_hh_l0: (H,)
    """

    def __init__(self, input_size: int, units: int, return_sequences: bool = False, use_bias: bool = True) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size, units, bias=use_bias, batch_first=True)
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, T, H)
        return out if self.return_sequences else out[:, -1]  # (B, T, H) or (B, H)


class LSTM(nn.Module):
    """nn.LSTM; its weights stack the gates (i, f, g, o).

    Shapes:
        x: (B, T, F)  ->  (B, T, H) if return_sequences else (B, H)
        lstm.weight_ih_l0: (4H, F);  lstm.weight_hh_l0: (4H, H);  lstm.bias_ih_l0, lstm.bias_hh_l0: (4H,)
    """

    def __init__(self, input_size: int, units: int, return_sequences: bool = False, use_bias: bool = True) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, units, bias=use_bias, batch_first=True)
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, H)
        return out if self.return_sequences else out[:, -1]  # (B, T, H) or (B, H)


class GRU(nn.Module):
    """nn.GRU (Keras' reset_after=True) or GRUResetBefore (reset_after=False); weights stack (r, z, n).

    Shapes:
        x: (B, T, F)  ->  (B, T, H) if return_sequences else (B, H)
        gru.weight_ih_l0: (3H, F);  gru.weight_hh_l0: (3H, H);  gru.bias_ih_l0, gru.bias_hh_l0: (3H,)
    """

    def __init__(
        self,
        input_size: int,
        units: int,
        return_sequences: bool = False,
        use_bias: bool = True,
        reset_after: bool = True,
    ) -> None:
        super().__init__()
        cell = nn.GRU if reset_after else GRUResetBefore
        self.gru = cell(input_size, units, bias=use_bias, batch_first=True)
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)  # (B, T, H)
        return out if self.return_sequences else out[:, -1]  # (B, T, H) or (B, H)


def simple_rnn(
    input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True
) -> SimpleRNN:
    """SimpleRNN (tanh): x (B, T, F) -> (B, T, H) or (B, H)."""
    _, F = input_shape
    return SimpleRNN(F, units, return_sequences, use_bias)


def lstm(input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True) -> LSTM:
    """LSTM: x (B, T, F) -> (B, T, H) or (B, H)."""
    _, F = input_shape
    return LSTM(F, units, return_sequences, use_bias)


def gru(
    input_shape: tuple[int, int],
    units: int,
    return_sequences: bool = False,
    use_bias: bool = True,
    reset_after: bool = True,
) -> GRU:
    """GRU: x (B, T, F) -> (B, T, H) or (B, H)."""
    _, F = input_shape
    return GRU(F, units, return_sequences, use_bias, reset_after)


class Bidirectional(nn.Module):
    """nn.LSTM or nn.GRU with bidirectional=True: a forward and a reverse direction, concatenated.

    ``out[:, t]`` is ``[forward state after x_t | reverse state after x_{T-1} ... x_t]``
    (torch/nn/modules/rnn.py). Keras' return_sequences=False keeps each direction's FINAL state:
    the forward one at t = T-1, the reverse one at t = 0; ``out[:, -1]`` would pair the forward
    final state with the reverse direction's first step.

    Shapes:
        x: (B, T, F)  ->  (B, T, 2H) if return_sequences else (B, 2H)
        rnn.weight_ih_l0, rnn.weight_ih_l0_reverse: (kH, F);  rnn.weight_hh_l0(_reverse): (kH, H)
        rnn.bias_ih_l0(_reverse), rnn.bias_hh_l0(_reverse): (kH,)    # k = 4 (LSTM), 3 (GRU)
    """

    def __init__(
        self, input_size: int, units: int, layer: str = "lstm", return_sequences: bool = False, use_bias: bool = True
    ) -> None:
        super().__init__()
        cell = {"lstm": nn.LSTM, "gru": nn.GRU}[layer]
        self.rnn = cell(input_size, units, bias=use_bias, batch_first=True, bidirectional=True)
        self.units = units
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, T, 2H)
        if self.return_sequences:
            return out
        H = self.units
        return torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=-1)  # (B, 2H): both final states


def bidirectional_lstm(
    input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True
) -> Bidirectional:
    """Bidirectional LSTM: x (B, T, F) -> (B, T, 2H) or (B, 2H)."""
    _, F = input_shape
    return Bidirectional(F, units, "lstm", return_sequences, use_bias)


def bidirectional_gru(
    input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True
) -> Bidirectional:
    """Bidirectional GRU (nn.GRU: Keras' reset_after=True): x (B, T, F) -> (B, T, 2H) or (B, 2H)."""
    _, F = input_shape
    return Bidirectional(F, units, "gru", return_sequences, use_bias)
