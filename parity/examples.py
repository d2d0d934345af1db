"""Motivating examples on real data that ships with scikit-learn or with Python itself (nothing is downloaded).

Each example trains one case from identical initial weights, on the same mini-batches
in the same order, in scratch and in every framework, then reports a held-out score per
implementation (accuracy, error, or a language model's perplexity), compares the trajectories
step by step, and draws every implementation's loss curve on one plot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parity.cases import get_case
from parity.training.spec import TrainRequest, convention


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    case: str
    config: dict[str, Any]
    load: Callable[[], tuple[np.ndarray, np.ndarray]]  # features (N, ...) and targets, raw
    metric: str  # "accuracy", "rmse" or "perplexity"
    optimizer: str = "adam"
    steps: int = 300
    batch: int = 32
    overrides: dict[str, Any] = field(default_factory=dict)  # optimiser hyperparameters
    held_out: Callable[..., tuple] | None = None  # (X, y, seed) -> train/test split; ``split`` by default


def _digits_flat():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _digits_image():
    X, y = _digits_flat()
    return X.reshape(-1, 8, 8, 1), y  # (N, H, W, C), channels last


def _digits_rows():
    X, y = _digits_flat()
    return X.reshape(-1, 8, 8), y  # (N, T=8 rows, F=8 pixels)


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X, y.astype(np.float64).reshape(-1, 1)


def _diabetes():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return X, ((y - y.mean()) / y.std()).reshape(-1, 1)


# Character language model on the English text that ships with Python: pydoc's help topics.
CHAR_VOCAB = 48  # the 47 most frequent characters, and one id for every other character
CHAR_STEPS = 32  # characters per window


def pydoc_text() -> str:
    """The text of every ``help()`` topic (``pydoc_data.topics.topics``), in the order of their names."""
    from pydoc_data.topics import topics

    return "\n".join(topics[name] for name in sorted(topics))


def char_ids(text: str, vocab: int = CHAR_VOCAB) -> tuple[np.ndarray, list[str]]:
    """Each character's id: the most frequent characters first (ties by code point), the rarest share id vocab - 1."""
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    chars = sorted(counts, key=lambda c: (-counts[c], c))[: vocab - 1]
    index = {c: i for i, c in enumerate(chars)}
    return np.array([index.get(c, vocab - 1) for c in text], dtype=np.int64), chars


def _pydoc_windows(steps: int = CHAR_STEPS, limit: int | None = None):
    """Non-overlapping windows of the text, in text order: X[n] = ids[nT : nT + T], y[n] = X[n] shifted by one."""
    ids, _ = char_ids(pydoc_text())
    if limit is not None:
        ids = ids[:limit]
    n = (len(ids) - 1) // steps
    X = ids[: n * steps].reshape(n, steps)  # (N, T)
    y = ids[1 : n * steps + 1].reshape(n, steps)  # (N, T): the next character at every step
    return X, y


def tail_split(X: np.ndarray, y: np.ndarray, seed: int):
    """The last 10 % of the windows, in text order, held out: no held-out character is in a training window."""
    n_test = max(1, len(X) // 10)
    return X[:-n_test], X[-n_test:], y[:-n_test], y[-n_test:]


EXAMPLES: dict[str, Example] = {
    e.name: e
    for e in [
        Example("diabetes_linear", "Linear regression of disease progression (load_diabetes, 10 features)", "linear_regression", {"input_shape": [10]}, _diabetes, "rmse", "sgd", 300, 32, {"learning_rate": 0.05}),
        Example("breast_cancer_logistic", "Logistic regression, malignant or benign (load_breast_cancer, 30 features)", "logistic_regression", {"input_shape": [30]}, _breast_cancer, "accuracy", "adam", 300, 32, {"learning_rate": 0.01}),
        Example("digits_mlp", "MLP on 8x8 digits (load_digits, 64 pixels, 10 classes)", "mlp", {"input_shape": [64], "units": [64], "num_classes": 10}, _digits_flat, "accuracy", "adam", 400, 32, {"learning_rate": 0.005}),
        Example("digits_lstm", "LSTM reading each 8x8 digit row by row (8 steps of 8 pixels)", "lstm_classifier", {"input_shape": [8, 8], "units": 32, "num_classes": 10}, _digits_rows, "accuracy", "adam", 300, 32, {"learning_rate": 0.01}),
        Example("digits_cnn", "CNN on 8x8x1 digit images (load_digits)", "cnn", {"input_shape": [8, 8, 1], "filters": [8, 16], "num_classes": 10}, _digits_image, "accuracy", "adam", 300, 32, {"learning_rate": 0.005}),
        Example(
            "pydoc_char_lstm",
            f"Character-level LSTM language model on pydoc's help topics ({CHAR_STEPS}-character windows, {CHAR_VOCAB} ids)",
            "char_lstm",
            {"input_dim": CHAR_VOCAB, "output_dim": 16, "units": 64, "input_shape": [CHAR_STEPS]},
            _pydoc_windows,
            "perplexity",
            "momentum",  # linear in the gradient: Keras' TensorFlow Adam differs on embedding rows (see tests/test_models.py)
            400,
            32,
            {"learning_rate": 1.0},
            held_out=tail_split,
        ),
        Example(
            "digits_transformer",
            "Transformer reading each 8x8 digit as 8 rows of 8 pixels (Dense projection, positions, one encoder block)",
            "seq_transformer",
            {"input_shape": [8, 8], "d_model": 16, "num_heads": 2, "dim_feedforward": 32, "num_layers": 1, "num_classes": 10},
            _digits_rows,
            "accuracy",
            "adam",  # no Embedding: every backend's Adam agrees
            300,
            32,
            {"learning_rate": 0.005},
        ),
        Example(
            "pydoc_char_transformer",
            f"Causal character transformer on pydoc's help topics ({CHAR_STEPS}-character windows, {CHAR_VOCAB} ids)",
            "char_transformer",
            # ReLU, as measured for the README's figures (a GELU would be judged as closely: keras-tensorflow's
            # float64 reference takes TensorFlow's float32 GELU constants, tf_gelu_float64_constants)
            {"input_dim": CHAR_VOCAB, "d_model": 32, "num_heads": 4, "dim_feedforward": 64, "activation": "relu", "input_shape": [CHAR_STEPS]},
            _pydoc_windows,
            "perplexity",
            "momentum",  # linear in the gradient: Keras-TF's Adam differs on Embedding rows (tf_embedding_sparse_adam)
            400,
            32,
            # 0.3 diverged to NaN near step 10 in every implementation alike; 0.1: held-out perplexity 7.55
            {"learning_rate": 0.1},
            held_out=tail_split,
        ),
    ]
}


def register_example(example: Example) -> None:
    EXAMPLES[example.name] = example


def split(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Held-out 25 % test split (stratified for labels), features standardised on the training part only."""
    from sklearn.model_selection import train_test_split

    labels = y if y.ndim == 1 or (y.shape[-1] == 1 and np.all(y == np.round(y))) else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=labels)
    if X.ndim == 2 and X.max() > 1.0 + 1e-12:  # raw measurements: standardise; pixels in [0, 1] stay as they are
        mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 1e-12
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    return X_train, X_test, y_train, y_test


def score(metric: str, outputs: np.ndarray, targets: np.ndarray) -> tuple[float, str]:
    """(value, text): accuracy counts whole samples, so equal accuracies are equal to the sample;
    perplexity is exp(mean cross-entropy) of logits (N, T, K) against the next ids (N, T)."""
    if metric == "perplexity":  # exp of the mean cross-entropy per predicted id; lower is better
        *lead, K = outputs.shape
        Z = outputs.reshape(-1, K)  # (N * T, K)
        m = Z.max(axis=1, keepdims=True)
        logp = Z - m - np.log(np.exp(Z - m).sum(axis=1, keepdims=True))
        value = float(np.exp(-logp[np.arange(len(Z)), targets.reshape(-1).astype(int)].mean()))
        return value, f"{value:.4f}"
    if metric == "rmse":
        value = float(np.sqrt(np.mean((outputs - targets) ** 2)))
        return value, f"{value:.4f}"
    if outputs.shape[-1] == 1:  # binary logits
        predictions = (outputs[:, 0] > 0).astype(int)
        truth = targets.reshape(-1).astype(int)
    else:
        predictions, truth = outputs.argmax(axis=-1), targets.astype(int)
    correct = int((predictions == truth).sum())
    return correct / len(truth), f"{correct}/{len(truth)} = {correct / len(truth):.4f}"


def run_example(example: Example, impls, dtypes, seed: int = 0, steps: int | None = None, progress=None):
    """Train every implementation; return (records, rows, losses) for the table, the JSON and the plot."""
    from parity.runners.base import needs_x64
    from parity.runners.pool import keras_worker
    from parity.train import KERAS, compare_trajectories, optimizer_spec, run_training
    from parity.training.runners import train_scratch
    from parity.weights import canonical_weights

    case = get_case(example.case)
    config = case.configure(example.config)
    X, y = example.load()
    X_train, X_test, y_train, y_test = (example.held_out or split)(X, y, seed)
    spec = optimizer_spec(example.optimizer, example.overrides)
    if spec["kind"] in ("adam", "adamw"):
        spec["torch_keras_epsilon"] = True  # every implementation runs Keras' Adam: one trajectory, one scratch run
    steps = steps or example.steps
    rng = case.rng(seed, "training")
    order: list[np.ndarray] = []
    while len(order) < steps:
        permutation = rng.permutation(len(X_train))
        order.extend(permutation[i : i + example.batch] for i in range(0, len(X_train) - example.batch + 1, example.batch))
    weights = canonical_weights(case, config, seed)
    records, rows, losses, gaps = [], [], {}, {}
    for dtype in dtypes:
        base = TrainRequest(case.name, config, dtype, weights, X_train, y_train, order[:steps], spec, eval_inputs=X_test)
        references = {}
        for impl in ["scratch", *[i for i in impls if i != "scratch"]]:
            if impl in KERAS:
                keras_worker(KERAS[impl], x64=needs_x64(impl, dtype))  # start the worker outside the timing
            started = time.perf_counter()
            if impl == "scratch":
                result = train_scratch(base)  # Keras' formulas; its torch-convention twin is trained when needed
                references["keras"] = result
            else:
                result = run_training(impl, base)
                rule = convention(impl, spec)
                if rule not in references:
                    references[rule] = train_scratch(TrainRequest(**{**base.__dict__, "convention": rule}))
                records.extend(compare_trajectories(example.case, dtype, references[rule], result))
                reference = references[rule].losses
                gaps[(impl, dtype)] = np.abs(result.losses - reference) / np.maximum(np.abs(reference), 1e-300)
            seconds = time.perf_counter() - started
            value, text = score(example.metric, result.outputs["eval"], y_test)
            rows.append({"example": example.name, "impl": impl, "dtype": dtype, example.metric: value, "score": text, "final_loss": float(result.losses[-1]), "wall_s": seconds})
            losses[(impl, dtype)] = result.losses
            if progress is not None:
                progress()
    return records, rows, losses, gaps


def plot_losses(example: Example, losses: dict, gaps: dict, path: str) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from parity.output import write_atomic

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    colours = {impl: f"C{i}" for i, impl in enumerate(dict.fromkeys(impl for impl, _ in losses))}
    for (impl, dtype), values in losses.items():
        style = "-" if dtype == "float64" else ":"
        steps = np.arange(1, len(values) + 1)
        top.plot(steps, values, label=f"{impl} {dtype}", linewidth=1.2, linestyle=style, color=colours[impl])
        if (impl, dtype) in gaps:  # against scratch following that framework's formulas
            bottom.plot(steps, np.maximum(gaps[(impl, dtype)], 1e-18), linewidth=1, linestyle=style, color=colours[impl])
    top.set_ylabel("training loss (mini-batch)")
    top.set_title(f"{example.name}: {example.description}\n(the curves lie on top of each other; the lower panel shows how far apart)", fontsize=9)
    top.legend(fontsize=8)
    bottom.set_yscale("log")
    bottom.set_xlabel("optimiser step")
    bottom.set_ylabel("|loss - scratch loss| / scratch loss")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
