"""Single recurrent layers in torch.nn, each wrapped as one nn.Sequential entry."""

from __future__ import annotations

from torch import nn

from framework.pytorch.recurrent import GRUResetBefore, RNNLayer


def simple_rnn(
    input_shape: tuple[int, int],
    units: int,
    return_sequences: bool = False,
    use_bias: bool = True,
    batch_first: bool = True,
) -> nn.Sequential:
    """nn.RNN (tanh): x (B, T, F) -> (B, T, H) or (B, H)."""
    _, F = input_shape
    return nn.Sequential(RNNLayer(nn.RNN(F, units, bias=use_bias, batch_first=batch_first), return_sequences))


def lstm(
    input_shape: tuple[int, int],
    units: int,
    return_sequences: bool = False,
    use_bias: bool = True,
    batch_first: bool = True,
) -> nn.Sequential:
    """nn.LSTM: x (B, T, F) -> (B, T, H) or (B, H)."""
    _, F = input_shape
    return nn.Sequential(RNNLayer(nn.LSTM(F, units, bias=use_bias, batch_first=batch_first), return_sequences))


def gru(
    input_shape: tuple[int, int],
    units: int,
    return_sequences: bool = False,
    use_bias: bool = True,
    reset_after: bool = True,
    batch_first: bool = True,
    module: str = "auto",
) -> nn.Sequential:
    """nn.GRU for Keras' reset_after=True, GRUResetBefore for reset_after=False.

    ``module="nn.GRU"`` builds nn.GRU whatever ``reset_after`` says: the port that
    assumes torch's only GRU is Keras' GRU.
    """
    _, F = input_shape
    if module == "nn.GRU" or (module == "auto" and reset_after):
        rnn: nn.Module = nn.GRU(F, units, bias=use_bias, batch_first=batch_first)
    elif module == "auto":
        rnn = GRUResetBefore(F, units, bias=use_bias, batch_first=batch_first)
    else:
        raise ValueError(f"module must be 'auto' or 'nn.GRU', received {module!r}")
    return nn.Sequential(RNNLayer(rnn, return_sequences))
