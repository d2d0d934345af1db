"""Divergences of the recurrent family: biases, gate order, GRU variants, axis order, returned steps.

Each compares Keras (on JAX) with PyTorch on the same canonical weights, inputs and
cotangent. The naive PyTorch port forgets one conversion rule (``disabled_rules``)
or builds the module the way a first port would (a torch-only configuration key).
"""

from __future__ import annotations

from parity.divergences.base import Divergence, Side, Variant, forgotten_rule

KERAS = "keras-jax"
CONVERTER = "parity.convert.recurrent"


# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[Divergence] = []

DIVERGENCES.append(
    forgotten_rule(
        "rnn_bias_split",
        against=KERAS,
        name="lstm_two_biases",
        area="recurrent",
        differs="nn.LSTM has two bias vectors, bias_ih_l0 and bias_hh_l0, both added to every gate "
        "(torch/nn/modules/rnn.py, class LSTM); keras.layers.LSTM has one, b (keras/src/layers/rnn/lstm.py, "
        "LSTMCell.call). A port that copies Keras' b into both biases adds it twice.",
        rule="bias_ih_l0 = b, bias_hh_l0 = 0 (any split with bias_ih + bias_hh = b); back: b = bias_ih + bias_hh; "
        "gradient: db = d bias_ih (= d bias_hh, never their sum).",
        converter=f"{CONVERTER}.LSTMConverter (rule rnn_bias_split)",
        case="lstm",
        layer="lstm_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "rnn_bias_split",
        against=KERAS,
        name="simple_rnn_two_biases",
        area="recurrent",
        differs="nn.RNN computes tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) with two biases (torch/nn/modules/rnn.py, "
        "class RNN); keras.layers.SimpleRNN has one (keras/src/layers/rnn/simple_rnn.py, SimpleRNNCell.call). "
        "Copying b into both doubles it.",
        rule="bias_ih_l0 = b, bias_hh_l0 = 0; back: b = bias_ih + bias_hh; gradient: db = d bias_ih.",
        converter=f"{CONVERTER}.SimpleRNNConverter (rule rnn_bias_split)",
        case="simple_rnn",
        layer="simple_rnn_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "gru_gate_order",
        against=KERAS,
        name="gru_gate_order",
        area="recurrent",
        differs="Keras stores the GRU blocks as (z, r, h) (keras/src/layers/rnn/gru.py, GRUCell.call: kernel[:, :units] "
        "is the update gate); nn.GRU as (r, z, n) (torch/nn/modules/rnn.py, class GRU: weight_ih_l0 is "
        "(W_ir|W_iz|W_in)). The shapes are equal, so the unreordered weights load without complaint.",
        rule="Swap the first two H-blocks of the kernel, the recurrent kernel and the biases (then transpose).",
        converter=f"{CONVERTER}.GRUConverter (rule gru_gate_order)",
        case="gru",
        layer="gru_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "gru_recurrent_bias",
        against=KERAS,
        name="gru_recurrent_bias",
        area="recurrent",
        differs="keras.layers.GRU(reset_after=True), the default, has a (2, 3H) bias: row 1 is added to h U before "
        "the reset gate multiplies the candidate's block, hh = tanh(xW_h + b0_h + r * (h U_h + b1_h)) "
        "(keras/src/layers/rnn/gru.py). nn.GRU has the same two places (bias_ih, bias_hh inside r * (...)). "
        "Treating it like an LSTM bias, bias_ih = b[0] + b[1] and bias_hh = 0, moves b1_h out of the reset gate: "
        "the candidate is off by (1 - r) * b1_h.",
        rule="bias_ih_l0 = b[0], bias_hh_l0 = b[1], each reordered (z, r, h) -> (r, z, n); gradients map row to row.",
        converter=f"{CONVERTER}.GRUConverter (rule gru_recurrent_bias)",
        case="gru",
        config={"reset_after": True},
        layer="gru_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "gru_reset_before",
        against=KERAS,
        name="gru_reset_before",
        area="recurrent",
        differs="keras.layers.GRU(reset_after=False) applies the reset gate before the recurrent matmul, "
        "hh = tanh(xW_h + b_h + (r * h) U_h) (keras/src/layers/rnn/gru.py, GRUCell.call); nn.GRU always applies it "
        "after, n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) (torch/nn/modules/rnn.py, class GRU), and PyTorch has "
        "no option for the other form. nn.GRU loaded with the converted weights (b in bias_ih, zeros in bias_hh) "
        "runs without complaint and computes the other formula.",
        rule="For reset_after=False, build the GRU from torch ops with the reset gate before the matmul "
        "(framework.pytorch.recurrent.GRUResetBefore, nn.GRU's parameter names and gate order); the weights convert "
        "as for nn.GRU with rnn_bias_split.",
        converter="parity.layers.recurrent (rule gru_reset_before: framework.pytorch.recurrent.GRUResetBefore) and parity.convert.recurrent.GRUConverter",
        case="gru",
        config={"reset_after": False},
        layer="gru_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "rnn_batch_first",
        against=KERAS,
        name="rnn_batch_first",
        area="recurrent",
        differs="nn.RNN, nn.LSTM and nn.GRU read (T, B, F), sequence first, unless batch_first=True "
        "(torch/nn/modules/rnn.py, RNNBase: batch_first defaults to False); Keras' recurrent layers read (B, T, F). "
        "Batch-first data fed to a sequence-first LSTM runs the recurrence across the batch, and the output has "
        "the same shape, so nothing complains.",
        rule="Build every torch recurrent module with batch_first=True when the data is (B, T, F) (or transpose to (T, B, F)).",
        converter="parity.layers.recurrent (rule rnn_batch_first: batch_first=True)",
        case="lstm",
        layer="lstm_0",
    )
)

DIVERGENCES.append(
    Divergence(
        name="keras_return_sequences",
        area="recurrent",
        differs="A torch recurrent module returns every step's hidden state, output (B, T, H) "
        "(torch/nn/modules/rnn.py); a Keras recurrent layer returns only the last, (B, H), unless "
        "return_sequences=True (keras/src/layers/rnn/rnn.py). With one sequence in the batch the (1, H) result "
        "even broadcasts against (1, T, H) targets in the loss, so training runs and learns the wrong thing.",
        rule="LSTM(units, return_sequences=True) for torch's output; output[:, -1] in torch for Keras' default.",
        converter="parity.layers.recurrent._call (output or output[:, -1], as return_sequences says)",
        case="lstm",
        # batch 1 keeps the naive Keras run computable: its (1, H) output broadcasts against the (1, T, H) cotangent
        # and targets drawn for the torch shape, so the comparison reports the shape mismatch instead of crashing.
        config={"return_sequences": True, "batch": 1},
        naive=Variant(Side("torch"), Side(KERAS, {"return_sequences": False})),
        converted=Variant(Side("torch"), Side(KERAS, {"return_sequences": True})),
        layer="lstm_0",
        keys=('return_sequences',),
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "bidirectional_reverse_suffix",
        against=KERAS,
        name="bidirectional_reverse_weights",
        area="recurrent",
        differs="keras.layers.Bidirectional holds two layers, forward_layer and backward_layer, whose weights follow "
        "each other in get_weights() (keras/src/layers/rnn/bidirectional.py); nn.LSTM(bidirectional=True) keeps the "
        "reverse direction in the same module under the forward names plus '_reverse' (weight_ih_l0_reverse, ...; "
        "torch/nn/modules/rnn.py, RNNBase.__init__). A port that knows only the *_l0 names loads the forward layer "
        "and leaves the reverse direction as torch initialised it; the shapes agree, so nothing complains.",
        rule="Each Keras direction converts as its own LSTM (transpose, bias split, GRU gate order); the backward "
        "layer's arrays go to the same names with the suffix '_reverse'.",
        converter=f"{CONVERTER}.BidirectionalConverter (rule bidirectional_reverse_suffix)",
        case="bidirectional_lstm",
        layer="bidirectional_0",
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "bidirectional_last_step",
        against=KERAS,
        name="bidirectional_last_step",
        area="recurrent",
        differs="A bidirectional torch module's output[:, t, H:] is the reverse direction's state after reading "
        "x_{T-1} ... x_t (torch/nn/modules/rnn.py, class LSTM: output holds the forward and reverse hidden states "
        "at each time step), so out[:, -1] pairs the forward final state with the reverse direction's FIRST step. "
        "Keras' Bidirectional(LSTM(H)) (return_sequences=False) concatenates the two final states, the backward "
        "one after reading x_0 (keras/src/layers/rnn/bidirectional.py, call). Both are (B, 2H).",
        rule="torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=-1), or the final states h_n: "
        "torch.cat([h_n[0], h_n[1]], dim=-1).",
        converter="parity.layers.recurrent._bidirectional_call (rule bidirectional_last_step)",
        case="bidirectional_lstm",
        config={"return_sequences": False},
        layer="bidirectional_0",
    )
)
