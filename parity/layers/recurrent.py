"""The recurrent family: SimpleRNN, LSTM, GRU, batch-first (B, T, F) sequences.

torch's recurrent modules return ``(output, h_n)`` (``(output, (h_n, c_n))`` for the LSTM;
torch/nn/modules/rnn.py); Keras' return every step's hidden state or only the last
(``return_sequences``; keras/src/layers/rnn/rnn.py). A generated torch model applies the
module and keeps what Keras keeps (``call``): ``output`` or ``output[:, -1]``.

Rules applied where the torch module is built:

``rnn_batch_first``
    nn.RNN/LSTM/GRU read (T, B, F) unless ``batch_first=True`` (RNNBase, default False);
    the data here is (B, T, F). The naive port leaves the default.
``bidirectional_last_step``
    A bidirectional module's ``output[:, t, H:]`` is the reverse direction's state after reading
    x_{T-1} ... x_t, so ``output[:, -1, H:]`` is its FIRST step and its final state is
    ``output[:, 0, H:]`` (torch/nn/modules/rnn.py, class LSTM: "output ... contain a concatenation
    of the forward and reverse hidden states at each time step"). Keras' Bidirectional with
    return_sequences=False concatenates the two final states (keras/src/layers/rnn/bidirectional.py,
    ``call``). The naive port takes ``output[:, -1]``.
``gru_reset_before``
    Keras' ``GRU(reset_after=False)`` applies the reset gate before the recurrent matmul;
    nn.GRU always after it. ``framework.pytorch.recurrent.GRUResetBefore`` writes Keras'
    form with nn.GRU's parameter names; the naive port uses nn.GRU anyway.
"""

from __future__ import annotations

from parity.convert.base import enabled
from parity.convert.recurrent import BidirectionalConverter, GRUConverter, LSTMConverter, SimpleRNNConverter
from parity.layers.base import (
    CANONICAL,
    Config,
    KerasSide,
    LayerKind,
    NotThisKind,
    Source,
    TorchSide,
    code,
    literal,
    tensorflow_left_unimported,
)

DEFAULTS: Config = {"units": 1, "return_sequences": False, "use_bias": True}


def _call(module, config: Config, x):
    output, _ = module(x)  # (B, T, H) when batch_first
    return output if config["return_sequences"] else output[:, -1]  # (B, T, H) or (B, H)


def _torch_read(module, shape) -> Config:
    # GRUResetBefore is always one unidirectional layer and has no num_layers or bidirectional
    if getattr(module, "bidirectional", False) and getattr(module, "num_layers", 1) == 1:
        raise NotThisKind("bidirectional=True (the bidirectional kind)")
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


def _keras_read(layer, go_backwards: bool = False) -> Config:
    for attribute, expected in (
        ("return_state", False),
        ("go_backwards", go_backwards),
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


# Bidirectional ------------------------------------------------------------------------------

WRAPPED = {"lstm": ("LSTM", "LSTM"), "gru": ("GRU", "GRU")}  # layer -> (torch class, Keras class)


def _bidirectional_call(module, config: Config, x):
    import torch

    output, _ = module(x)  # (B, T, 2H): [forward | reverse] at every step
    if config["return_sequences"]:
        return output
    if not enabled("bidirectional_last_step"):
        return output[:, -1]  # the naive port: the reverse half is its first step, not its last
    H = config["units"]
    return torch.cat([output[:, -1, :H], output[:, 0, H:]], dim=-1)  # (B, 2H): each direction's final state


def _bidirectional_scratch(config: Config, layer_name: str):
    from scratch.bidirectional import Bidirectional
    from scratch.gru import GRU
    from scratch.lstm import LSTM

    _bidirectional_validate(config, None)
    common = {"return_sequences": config["return_sequences"], "use_bias": config["use_bias"]}
    if config["layer"] == "gru":
        inner = GRU(config["units"], reset_after=config["reset_after"], **common)
    else:
        inner = LSTM(config["units"], **common)
    return Bidirectional(inner, name=layer_name)


def _bidirectional_validate(config: Config, shapes) -> None:
    if config["layer"] not in WRAPPED:
        raise ValueError(f"bidirectional: layer must be one of {sorted(WRAPPED)}, received {config['layer']!r}")
    if config["layer"] == "gru" and not config["reset_after"]:
        raise ValueError("bidirectional: gru with reset_after=False has no torch counterpart (nn.GRU resets after)")


def _bidirectional_torch(config: Config, shapes, layout):
    from torch import nn

    _bidirectional_validate(config, shapes)
    F, H = shapes[0][-1], config["units"]
    cls = getattr(nn, WRAPPED[config["layer"]][0])
    return cls(F, H, bias=config["use_bias"], batch_first=enabled("rnn_batch_first"), bidirectional=True)


def _bidirectional_read_torch(module, shape) -> Config:
    if not getattr(module, "bidirectional", False):
        raise NotThisKind("bidirectional=False (the unidirectional kind)")
    module.bidirectional = False  # the checks below are the unidirectional layer's
    try:
        config = _torch_read(module, shape)
    finally:
        module.bidirectional = True
    layer = type(module).__name__.lower()
    return {"layer": layer, **config, "reset_after": True}


def _bidirectional_keras(config: Config, layer_name: str):
    import keras

    _bidirectional_validate(config, None)
    options = {"reset_after": config["reset_after"]} if config["layer"] == "gru" else {}
    inner = getattr(keras.layers, WRAPPED[config["layer"]][1])(
        config["units"], return_sequences=config["return_sequences"], use_bias=config["use_bias"], **options
    )
    with tensorflow_left_unimported():  # Bidirectional serialises the wrapped layer: no TensorFlow needed
        return keras.layers.Bidirectional(inner, merge_mode="concat", name=layer_name)


def _bidirectional_read_keras(layer) -> Config:
    if layer.merge_mode != "concat":
        raise ValueError(f"merge_mode={layer.merge_mode!r} (only 'concat' is supported)")
    forward, backward = layer.forward_layer, layer.backward_layer
    names = {keras_class: name for name, (_, keras_class) in WRAPPED.items()}
    if type(forward).__name__ not in names or type(backward) is not type(forward):
        raise ValueError(f"wraps {type(forward).__name__} (only LSTM or GRU, the same both ways)")
    config = _keras_read(forward)
    if _keras_read(backward, go_backwards=True) != config:  # Bidirectional sets go_backwards on its copy
        raise ValueError("the backward layer is configured differently from the forward layer")
    reset_after = bool(getattr(forward.cell, "reset_after", True))
    return {"layer": names[type(forward).__name__], **config, "reset_after": reset_after}


def _bidirectional_source_torch(config: Config, shapes, layout) -> Source:
    F, H = shapes[0][-1], config["units"]
    kwargs: Config = {} if config["use_bias"] else {"bias": False}
    kwargs.update(batch_first=True, bidirectional=True)
    comments = [
        "batch_first: the data is (B, T, F), as Keras reads it",
        "forward_layer -> *_l0, backward_layer -> *_l0_reverse; weight_ih = kernel.T, weight_hh = recurrent_kernel.T",
    ]
    if config["layer"] == "gru":
        comments.append("gates (z, r, h) reordered to torch's (r, z, n); bias rows 0, 1 -> bias_ih, bias_hh")
    elif config["use_bias"]:
        comments.append("Keras' one bias in bias_ih, zeros in bias_hh (torch adds the two)")
    if config["return_sequences"]:
        call = "{y}, _ = {m}({x})  # (B, T, 2H): [forward | reverse] at every step, what Keras returns"
    else:
        call = (
            "out, _ = {m}({x})  # (B, T, 2H): [forward | reverse] at every step\n"
            f"{{y}} = torch.cat([out[:, -1, :{H}], out[:, 0, {H}:]], dim=-1)"
            "  # (B, 2H): each direction's final state (the reverse one's is at t = 0), what Keras returns"
        )
    return Source(code(f"nn.{WRAPPED[config['layer']][0]}", F, H, **kwargs), tuple(comments), (), call)


def _bidirectional_source_keras(config: Config, layer_name: str, shapes=None, layout=None) -> Source:
    kwargs: Config = {}
    if config["return_sequences"]:
        kwargs["return_sequences"] = True
    if not config["use_bias"]:
        kwargs["use_bias"] = False
    inner = code(f"layers.{WRAPPED[config['layer']][1]}", config["units"], **kwargs)
    comments = [
        "forward_layer <- *_l0, backward_layer <- *_l0_reverse; kernel = weight_ih.T, recurrent_kernel = weight_hh.T"
    ]
    if config["layer"] == "gru":
        comments.append("gates (r, z, n) reordered to Keras' (z, r, h); bias = (bias_ih, bias_hh)")
    elif config["use_bias"]:
        comments.append("bias = bias_ih + bias_hh (torch adds the two)")
    return Source(f'layers.Bidirectional({inner}, merge_mode="concat", name={literal(layer_name)})', tuple(comments))


BIDIRECTIONAL = LayerKind(
    name="bidirectional",
    family="recurrent",
    summary="Bidirectional(LSTM | GRU): forward and backward copies, concatenated",
    scratch=_bidirectional_scratch,
    torch=TorchSide(
        build=_bidirectional_torch,
        call=_bidirectional_call,
        modules=("torch.nn.LSTM", "torch.nn.GRU"),
        read_module=_bidirectional_read_torch,
        layout=CANONICAL,
        reads=CANONICAL,
        source=_bidirectional_source_torch,
    ),
    keras=KerasSide(
        build=_bidirectional_keras,
        classes=("Bidirectional",),
        read=_bidirectional_read_keras,
        source=_bidirectional_source_keras,
    ),
    converter=BidirectionalConverter(),
    defaults={"layer": "lstm", **DEFAULTS, "reset_after": True},
    validate=_bidirectional_validate,
)

KINDS = (SIMPLE_RNN, LSTM, GRU, BIDIRECTIONAL)
