"""The recurrent family: SimpleRNN, LSTM, GRU, batch-first (B, T, F) sequences.

torch's recurrent modules return ``(output, h_n)`` (``(output, (h_n, c_n))`` for the LSTM;
torch/nn/modules/rnn.py); Keras' return every step's hidden state or only the last
(``return_sequences``; keras/src/layers/rnn/rnn.py). A generated torch model applies the
module and keeps what Keras keeps (``call``): ``output`` or ``output[:, -1]``.

Rules applied where the torch module is built:

``rnn_batch_first``
    nn.RNN/LSTM/GRU read (T, B, F) unless ``batch_first=True`` (RNNBase, default False);
    the data here is (B, T, F). The naive port leaves the default.
``gru_reset_before``
    Keras' ``GRU(reset_after=False)`` applies the reset gate before the recurrent matmul;
    nn.GRU always after it. ``framework.pytorch.recurrent.GRUResetBefore`` writes Keras'
    form with nn.GRU's parameter names; the naive port uses nn.GRU anyway.
"""

from __future__ import annotations

from parity.convert.base import enabled
from parity.convert.recurrent import GRUConverter, LSTMConverter, SimpleRNNConverter
from parity.layers.base import CANONICAL, Config, KerasSide, LayerKind, Source, TorchSide, code

DEFAULTS: Config = {"units": 1, "return_sequences": False, "use_bias": True}


def _call(module, config: Config, x):
    output, _ = module(x)  # (B, T, H) when batch_first
    return output if config["return_sequences"] else output[:, -1]  # (B, T, H) or (B, H)


def _torch_read(module, shape) -> Config:
    # GRUResetBefore is always one unidirectional layer and has no num_layers or bidirectional
    if (
        getattr(module, "num_layers", 1) != 1
        or getattr(module, "bidirectional", False)
        or getattr(module, "proj_size", 0)
    ):
        raise ValueError("num_layers > 1, bidirectional or proj_size (only one unidirectional layer is supported)")
    if not module.batch_first:
        raise ValueError("batch_first=False (the model's input must be (B, T, F): build it with batch_first=True)")
    if getattr(module, "nonlinearity", "tanh") != "tanh":
        raise ValueError(f"nonlinearity={module.nonlinearity!r} (only tanh is supported)")
    use_bias = getattr(module, "bias", getattr(module, "bias_ih_l0", None) is not None)
    config = {"units": module.hidden_size, "return_sequences": True, "use_bias": bool(use_bias)}
    return config


def _keras_read(layer) -> Config:
    for attribute, expected in (
        ("return_state", False),
        ("go_backwards", False),
        ("stateful", False),
        ("dropout", 0),
        ("recurrent_dropout", 0),
    ):
        if getattr(layer, attribute, expected) != expected:
            raise ValueError(f"{attribute}={getattr(layer, attribute)!r} (only {expected!r} is supported)")
    cell = layer.cell
    if (
        cell.activation.__name__ != "tanh"
        or getattr(cell, "recurrent_activation", None) not in (None,)
        and cell.recurrent_activation.__name__ != "sigmoid"
    ):
        raise ValueError("activations other than tanh / sigmoid are not supported")
    return {"units": layer.units, "return_sequences": layer.return_sequences, "use_bias": cell.use_bias}


def _kind(
    name: str,
    scratch_class: str,
    torch_class: str,
    keras_class: str,
    converter,
    summary: str,
    extra: Config | None = None,
) -> LayerKind:
    extra = extra or {}

    def scratch(config: Config, layer_name: str):
        import scratch as package  # noqa: F401
        from scratch.gru import GRU
        from scratch.lstm import LSTM
        from scratch.simple_rnn import SimpleRNN

        cls = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}[scratch_class]
        kwargs = {k: config[k] for k in extra}
        return cls(
            config["units"],
            return_sequences=config["return_sequences"],
            use_bias=config["use_bias"],
            name=layer_name,
            **kwargs,
        )

    def build_torch(config: Config, shapes, layout):
        from torch import nn

        from framework.pytorch.recurrent import GRUResetBefore

        F, H = shapes[0][-1], config["units"]
        batch_first = enabled("rnn_batch_first")
        if torch_class == "GRU" and not config["reset_after"] and enabled("gru_reset_before"):
            return GRUResetBefore(F, H, bias=config["use_bias"], batch_first=batch_first)
        kwargs = {"nonlinearity": "tanh"} if torch_class == "RNN" else {}
        return getattr(nn, torch_class)(F, H, bias=config["use_bias"], batch_first=batch_first, **kwargs)

    def source_torch(config: Config, shapes, layout) -> Source:
        F, H = shapes[0][-1], config["units"]
        kwargs: Config = {} if config["use_bias"] else {"bias": False}
        batch_first = enabled("rnn_batch_first")
        if batch_first:
            kwargs["batch_first"] = True
        comments = [
            "batch_first: the data is (B, T, F), as Keras reads it" if batch_first else "(T, B, F): torch's default",
            "weight_ih_l0 = kernel.T, weight_hh_l0 = recurrent_kernel.T",
        ]
        callee, imports = f"nn.{torch_class}", ()
        if torch_class == "GRU":
            comments.append("gates (z, r, h) reordered to torch's (r, z, n)")
            if not config["reset_after"] and enabled("gru_reset_before"):
                callee, imports = "GRUResetBefore", ("from framework.pytorch.recurrent import GRUResetBefore",)
                comments.append("Keras' reset_after=False: the reset gate before the recurrent matmul (nn.GRU: after)")
            elif config["use_bias"]:
                comments.append("Keras' (2, 3H) bias: row 0 is bias_ih_l0, row 1 bias_hh_l0")
        elif config["use_bias"]:
            comments.append("Keras' one bias in bias_ih_l0, zeros in bias_hh_l0 (torch adds the two)")
        if config["return_sequences"]:
            call = "{y}, _ = {m}({x})  # (B, T, H): every step's hidden state, what Keras returns"
        else:
            call = "out, _ = {m}({x})  # (B, T, H): every step's hidden state\n{y} = out[:, -1]  # (B, H): the last step, what Keras returns"
        return Source(code(callee, F, H, **kwargs), tuple(comments), imports, call)

    def source_keras(config: Config, layer_name: str, shapes=None, layout=None) -> Source:
        kwargs: Config = {k: config[k] for k in extra if config[k] != True}  # noqa: E712  reset_after's default
        if config["return_sequences"]:
            kwargs["return_sequences"] = True
        if not config["use_bias"]:
            kwargs["use_bias"] = False
        comments = ["kernel = weight_ih_l0.T, recurrent_kernel = weight_hh_l0.T"]
        if keras_class == "GRU":
            comments.append("gates (r, z, n) reordered to Keras' (z, r, h)")
        if config["use_bias"]:
            comments.append(
                "bias = (bias_ih_l0, bias_hh_l0), torch's two rows"
                if keras_class == "GRU" and config["reset_after"]
                else "bias = bias_ih_l0 + bias_hh_l0 (torch adds the two)"
            )
        return Source(code(f"layers.{keras_class}", config["units"], **kwargs, name=layer_name), tuple(comments))

    def read_torch(module, shape) -> Config:
        config = _torch_read(module, shape)
        if torch_class == "GRU":
            config["reset_after"] = type(module).__name__ != "GRUResetBefore"
        return config

    def build_keras(config: Config, layer_name: str):
        import keras

        kwargs = {k: config[k] for k in extra}
        return getattr(keras.layers, keras_class)(
            config["units"],
            return_sequences=config["return_sequences"],
            use_bias=config["use_bias"],
            name=layer_name,
            **kwargs,
        )

    def read_keras(layer) -> Config:
        config = _keras_read(layer)
        if keras_class == "GRU":
            config["reset_after"] = bool(layer.cell.reset_after)
        return config

    modules = (f"torch.nn.{torch_class}",) + (
        ("framework.pytorch.recurrent.GRUResetBefore",) if torch_class == "GRU" else ()
    )
    return LayerKind(
        name=name,
        family="recurrent",
        summary=summary,
        scratch=scratch,
        torch=TorchSide(
            build=build_torch,
            call=_call,
            modules=modules,
            read_module=read_torch,
            layout=CANONICAL,
            reads=CANONICAL,
            source=source_torch,
        ),
        keras=KerasSide(build=build_keras, classes=(keras_class,), read=read_keras, source=source_keras),
        converter=converter,
        defaults={**DEFAULTS, **extra},
    )


SIMPLE_RNN = _kind(
    "simple_rnn", "SimpleRNN", "RNN", "SimpleRNN", SimpleRNNConverter(), "h_t = tanh(x_t W + h_(t-1) U + b)"
)
LSTM = _kind("lstm", "LSTM", "LSTM", "LSTM", LSTMConverter(), "LSTM, gates (i, f, c, o)")
GRU = _kind("gru", "GRU", "GRU", "GRU", GRUConverter(), "GRU, gates (z, r, h)", {"reset_after": True})

KINDS = (SIMPLE_RNN, LSTM, GRU)
