"""The report's plots, drawn with matplotlib (Agg: no display) and returned as base64 PNG.

``parity report`` draws them while its workers are still computing (each as soon as its
results are in), so every figure is a ``matplotlib.figure.Figure`` of its own (no pyplot
state) and one lock keeps one figure drawing at a time (matplotlib is not thread-safe).
Log axes are labelled in plain text (``1e-05``): matplotlib's default labels are mathtext
(``$10^{-5}$``), whose parsing was most of the time spent drawing the report.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import threading

import numpy as np

from parity.implementations import DTYPES
from parity.tolerance import EPS, NOISE_FLOOR_MIN_EPS, NOISE_FLOOR_MULTIPLE

SHOWN_MIN_EPS = 1e-2  # errors of exactly 0 are drawn at this height on log axes
COLOURS = {
    "torch": "#d62728",
    "keras-torch": "#ff7f0e",
    "keras-jax": "#1f77b4",
    "keras-tensorflow": "#2ca02c",
    "scratch": "#7f7f7f",
}


_DRAWING = threading.Lock()  # one figure at a time: matplotlib's font and text caches are shared


def _figure(**kwargs):
    from matplotlib.figure import Figure  # no pyplot: no global figure registry, no GUI backend

    return Figure(**kwargs)


def _plain_log(axis) -> None:
    """Label a log axis in plain text (``1e-05``, minor ticks where a decade is short), not mathtext.

    Call it once the data are drawn. Minor ticks are kept only where they are labelled: the
    formatter labels them when the axis spans at most ``minor_thresholds[0]`` decades (one;
    ``LogFormatter.set_locs``, matplotlib/ticker.py). Over more decades they would be unlabelled
    marks, eight a decade, and every tick is several artists that each drawing lays out twice
    (``_png``): measured, a third of a case's plot (``plot_layers``: 315 ms of CPU a plot with them
    everywhere, 240 ms so, 205 ms with none, over every third case of the report).
    """
    from matplotlib.ticker import LogFormatter, NullLocator

    axis.set_major_formatter(LogFormatter(10))
    minor = LogFormatter(10, labelOnlyBase=False)
    axis.set_minor_formatter(minor)
    low, high = axis.axes.get_ylim() if axis.axis_name == "y" else axis.axes.get_xlim()
    if abs(math.log10(high / low)) > minor.minor_thresholds[0]:
        axis.set_minor_locator(NullLocator())


DPI = 80


def _png(fig) -> str:
    """The figure as base64 PNG, cropped to what it draws (legends outside the axes included).

    The same image as ``savefig(bbox_inches="tight")``, byte for byte, with one pass over the figure
    fewer: for "tight", ``FigureCanvasBase.print_figure`` (matplotlib/backend_bases.py) first draws
    the whole figure with drawing switched off, for layout engines, then measures it, then draws it.
    These figures have no layout engine (``tight_layout`` adjusts once and leaves none), so
    measuring at the saving resolution gives the same box; measured, a case's plot then costs
    about 17% less CPU (``process_time`` of five ``plot_layers`` figures: 2.14 s against 1.78 s).
    """
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(DPI)
    box = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer()).padded(rcParams["savefig.pad_inches"])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches=box)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _one_at_a_time(plot):
    """``plot`` under ``_DRAWING``: callable from any thread."""

    @functools.wraps(plot)
    def drawn(*args, **kwargs):
        with _DRAWING:
            return plot(*args, **kwargs)

    return drawn


def _shown(values) -> np.ndarray:
    return np.maximum(np.asarray(values, dtype=float), SHOWN_MIN_EPS)


@_one_at_a_time
def plot_layers(case_run) -> str | None:
    """Activation (solid) and output-gradient (dashed) error per layer, in eps, one panel per dtype."""
    if not any(case_run.layers.values()):
        return None
    fig = _figure(figsize=(11, 3.2))
    axes = fig.subplots(1, len(DTYPES), squeeze=False)
    for ax, dtype in zip(axes[0], DTYPES):
        names: list[str] = []
        tolerances: dict[float, list[str]] = {}  # a widened tolerance (an allowance) gets its own line
        for (impl, d), rows in sorted(case_run.layers.items()):
            if d != dtype or not rows:
                continue
            rows = [r for r in rows if r.act_err is not None or r.grad_err is not None]
            names = names or [r.layer for r in rows]
            x = np.arange(len(rows))
            colour = COLOURS.get(impl, None)
            act = [np.nan if r.act_err is None else r.act_err / EPS[dtype] for r in rows]
            grad = [np.nan if r.grad_err is None else r.grad_err / EPS[dtype] for r in rows]
            ax.plot(x, _shown(act), "o-", color=colour, label=f"{impl} output", markersize=4)
            ax.plot(x, _shown(grad), "s--", color=colour, label=f"{impl} gradient", markersize=3, alpha=0.7)
            tolerances.setdefault(rows[0].tolerance / EPS[dtype], []).append(impl)
        for tol_eps, impls in sorted(tolerances.items()):
            label = "tolerance" if len(tolerances) == 1 else f"tolerance ({', '.join(impls)})"
            ax.axhline(tol_eps, color="#b3261e", linewidth=1, linestyle=":", label=label)
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{case_run.case.name}, {dtype}: error per layer", fontsize=10)
        ax.set_ylabel(f"max rel err / eps({dtype})", fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    return _png(fig)


@_one_at_a_time
def plot_noise(noise) -> str | None:
    """float32 agreement against the larger noise floor, every case and quantity, per implementation."""
    rows = [n for n in noise if n.agreement is not None and n.bound is not None]
    if not rows:
        return None
    eps = EPS["float32"]
    fig = _figure(figsize=(6.8, 4.6))
    ax = fig.subplots()
    floor_of = {id(n): max(n.floor_a, n.floor_b) / eps for n in rows}
    for impl in sorted({n.impl_b for n in rows}):
        group = [n for n in rows if n.impl_b == impl]
        ax.scatter(
            _shown([floor_of[id(n)] for n in group]),
            _shown([n.agreement / eps for n in group]),
            s=10,
            alpha=0.6,
            color=COLOURS.get(impl),
            label=impl,
        )
    top = max(max(floor_of.values()), max(n.agreement / eps for n in rows), 10.0) * 2
    line = np.geomspace(SHOWN_MIN_EPS, top, 200)
    ax.plot(line, line, color="#555", linewidth=1, label="agreement = floor")
    bound = NOISE_FLOOR_MULTIPLE * np.maximum(line, NOISE_FLOOR_MIN_EPS)
    ax.plot(
        line,
        bound,
        color="#b3261e",
        linewidth=1,
        linestyle="--",
        label=f"bound = {NOISE_FLOOR_MULTIPLE:g} x max(floor, {NOISE_FLOOR_MIN_EPS:g} eps)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log(ax.xaxis)
    _plain_log(ax.yaxis)
    ax.set_xlabel("larger noise floor (float32 vs own float64), eps")
    ax.set_ylabel("float32 agreement with scratch, eps")
    ax.set_title("float32 error against its noise floor (every case, every quantity)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return _png(fig)


@_one_at_a_time
def plot_divergences(divergences) -> str | None:
    """Naive against converted error per divergence case, with the tolerance each is judged by."""
    outcomes = [o for o in divergences if o.result is not None]
    if not outcomes:
        return None
    fig = _figure(figsize=(6.8, 0.8 + 0.24 * len(outcomes)))
    ax = fig.subplots()
    y = np.arange(len(outcomes))
    # inf (results of different shapes) is drawn at 1e3, the right edge, and labelled
    naive = [min(max(o.result.naive_error, 1e-18), 1e3) for o in outcomes]
    converted = [min(max(o.result.converted_error, 1e-18), 1e3) for o in outcomes]
    tols = [max((r.tolerance for r in o.result.naive if r.tolerance is not None), default=np.nan) for o in outcomes]
    ax.barh(y - 0.2, naive, height=0.4, color="#d9534f", label="naive port")
    ax.barh(y + 0.2, converted, height=0.4, color="#5cb85c", label="converted port")
    ax.scatter(tols, y, marker="|", s=120, color="#222", label="tolerance", zorder=3)
    for yi, o in zip(y, outcomes):
        if not math.isfinite(o.result.naive_error):
            ax.text(1e3, yi - 0.2, " inf", va="center", fontsize=7)
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.set_yticks(y)
    ax.set_yticklabels([o.divergence.name for o in outcomes], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("worst max rel err (1e-18 stands for 0, 1e3 for inf: shapes differ)")
    ax.set_title("divergence cases: naive caught, converted passing", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


@_one_at_a_time
def plot_trajectories(df) -> str | None:
    """Disagreement with scratch after each optimiser step, one panel per (model, optimiser)."""
    if df is None or df.empty:
        return None
    groups = list(df.groupby(["model", "optimizer"], sort=True))[:12]
    columns = min(3, len(groups))
    rows = math.ceil(len(groups) / columns)
    fig = _figure(figsize=(4.2 * columns, 2.8 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    for ax, ((model, optimizer), group) in zip(axes.flat, groups):
        for (impl, dtype), line in group.groupby(["impl", "dtype"], sort=True):
            line = line.sort_values("step")
            ax.plot(
                line["step"],
                np.maximum(line["max_rel_err"].astype(float), 1e-18),
                "-" if dtype == "float64" else ":",
                color=COLOURS.get(impl),
                label=f"{impl} {dtype}",
            )
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
        ax.set_title(f"{model}, {optimizer}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("max rel err", fontsize=8)
        ax.grid(True, alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    fig.tight_layout()
    return _png(fig)
