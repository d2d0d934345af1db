"""The report's page, ``index.html``: one self-contained file (inline CSS, PNG plots as data URIs).

Nothing is fetched when it opens: no network, no external script or font. A short
inline script measures, once the page has loaded, whether the summary matrix and
the plots were laid out with a size and are visible, and writes the answer into
``<body data-rendered="matrix:ok plot:ok ...">`` (read by tests/test_browser.py).
"""

from __future__ import annotations

import html
import math

import numpy as np

from parity.implementations import DTYPES
from parity.report.plots import plot_divergences, plot_layers, plot_noise, plot_trajectories
from parity.report.tables import REFERENCE, case_summary, cells, divergence_frame, noise_frame
from parity.tolerance import NOISE_FLOOR_MULTIPLE

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { background: #22303c; color: #fff; padding: 16px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: #d5dde5; }
main { padding: 8px 28px 40px; }
nav a { margin-right: 14px; color: #9cc7ff; }
h2 { margin-top: 28px; border-bottom: 2px solid #d0d7de; padding-bottom: 4px; }
h3 { margin: 22px 0 6px; }
table { border-collapse: collapse; background: #fff; margin: 8px 0; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
#matrix td.cell { font-size: 12px; line-height: 1.25; white-space: nowrap; text-align: center; min-width: 84px; }
#matrix .sub { font-size: 11px; color: #44535f; }
#matrix th.case { text-align: left; }
.pass { background: #c9efc9; }
.pass-near { background: #f6eeb4; }
.fail { background: #f5b7b1; font-weight: 600; }
.missing { background: #e3e3e3; color: #555; }
.crashed { background: #ffcf99; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 6px; border: 1px solid #d0d7de; font-size: 12px; }
.verdict { font-weight: 700; }
.ok { color: #17692b; } .bad { color: #b3261e; }
img.plot { display: block; max-width: 100%; height: auto; background: #fff; border: 1px solid #d0d7de; margin: 8px 0; }
code { background: #eef1f4; padding: 0 3px; border-radius: 3px; }
details { margin: 4px 0; }
.note { color: #555; font-size: 13px; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  function visible(el) {
    if (!el) { return false; }
    var r = el.getBoundingClientRect(), s = window.getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.display !== "none" && s.visibility !== "hidden" && parseFloat(s.opacity) > 0;
  }
  var matrix = document.getElementById("matrix");
  var cells = matrix ? matrix.querySelectorAll("td.cell").length : 0;
  var plots = Array.prototype.slice.call(document.querySelectorAll("img.plot"));
  var shown = plots.filter(function (img) { return img.complete && img.naturalWidth > 0 && visible(img); });
  document.body.setAttribute("data-rendered",
    "matrix:" + (visible(matrix) && cells > 0 ? "ok" : "missing") +
    " plot:" + (shown.length > 0 ? "ok" : "missing") +
    " cells:" + cells + " plots:" + shown.length + "/" + plots.length);
});
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def num(value, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return format(value, spec)


def img(png: str | None, alt: str) -> str:
    if png is None:
        return ""
    return f'<img class="plot" alt="{esc(alt)}" src="data:image/png;base64,{png}">'


# page ------------------------------------------------------------------------


def _cell_class(cell) -> str:
    if cell.status == "pass":
        # Near: over half the fixed tolerance, or beyond 2x the larger floor (the sum of two equal floors).
        return "pass-near" if (cell.ratio or 0) > 0.5 or (cell.noise_ratio or 0) > 2.0 else "pass"
    if cell.status == "FAIL":
        return "fail"
    if cell.status == "crashed":
        return "crashed"
    return "missing"


def _cell_html(cell) -> str:
    """The verdict and worst error; below it, in float32, the agreement as a multiple of the floor."""
    if cell.worst_eps is None:
        return esc(cell.status)
    text = f"{cell.status} {num(cell.worst_eps, '.2g' if cell.worst_eps < 100 else '.3g')} eps" + (
        " \u2020" if cell.allowance else ""
    )
    if cell.noise_ratio is not None:
        text = f'{esc(text)}<br><span class="sub">{num(cell.noise_ratio, ".2g")}x floor</span>'
        return text
    return esc(text)


def matrix_html(data) -> str:
    table = cells(data)
    impls = [i for i in data.impls if i != REFERENCE]
    head = "".join(f'<th colspan="{len(DTYPES)}">{esc(REFERENCE)} vs {esc(i)}</th>' for i in impls)
    sub = "".join(f"<th>{esc(d)}</th>" for _ in impls for d in DTYPES)
    body = []
    for case_run in data.cases:
        name = case_run.case.name
        tds = []
        for impl in impls:
            for dtype in DTYPES:
                cell = table.get((name, impl, dtype))
                if cell is None:
                    tds.append('<td class="cell missing">-</td>')
                    continue
                title = f"worst: {cell.worst_quantity}" if cell.worst_quantity else ""
                if cell.detail:
                    title = f"{title}; {cell.detail}" if title else cell.detail
                tds.append(f'<td class="cell {_cell_class(cell)}" title="{esc(title)}">{_cell_html(cell)}</td>')
        body.append(f'<tr><th class="case"><a href="#case-{esc(name)}">{esc(name)}</a></th>{"".join(tds)}</tr>')
    legend = (
        '<p class="legend"><span class="pass">pass</span><span class="pass-near">pass, over half the tolerance or over 2x the floor</span>'
        '<span class="fail">FAIL</span><span class="crashed">crashed</span><span class="missing">not installed</span>'
        "\u2020 judged against an allowance, a widened tolerance with its measured cause (parity.tolerance.ALLOWANCES)</p>"
    )
    return (
        f'<table id="matrix"><thead><tr><th rowspan="2">case</th>{head}</tr><tr>{sub}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{legend}"
    )


def frame_html(df, floatfmt: str = ".3g", verdict_columns: tuple[str, ...] = ()) -> str:
    if df is None or df.empty:
        return '<p class="note">(nothing to show)</p>'
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    rows = []
    for record in df.to_dict("records"):
        tds = []
        for column, value in record.items():
            if isinstance(value, (bool, np.bool_)):
                tds.append(f'<td class="{"ok" if value else "bad"} verdict">{"yes" if value else "no"}</td>')
            elif isinstance(value, (float, np.floating)):
                tds.append(f'<td class="num">{num(float(value), floatfmt)}</td>')
            elif column in verdict_columns or value in ("pass", "FAIL", "ok", "crashed"):
                good = value in ("pass", "ok")
                tds.append(f'<td class="verdict {"ok" if good else "bad"}">{esc(value)}</td>')
            else:
                tds.append(f"<td>{esc(value)}</td>")
        rows.append(f"<tr>{''.join(tds)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def divergences_html(data) -> str:
    if not data.divergences:
        return '<p class="note">No divergence case was run.</p>'
    parts = [frame_html(divergence_frame(data))]
    parts.append("<details open><summary>What differs, the rule, and the converter</summary><ul>")
    for o in data.divergences:
        d = o.divergence
        crash = f' <span class="bad">crashed: {esc(o.error)}</span>' if o.error else ""
        parts.append(
            f"<li><b>{esc(d.name)}</b> ({esc(d.area)}): {esc(d.differs)} <i>Rule:</i> {esc(d.rule)} "
            f"<i>Converter:</i> <code>{esc(d.converter)}</code>{crash}</li>"
        )
    parts.append("</ul></details>")
    return "".join(parts)


def draw_case_plot(case_run, plots: dict) -> None:
    """One case's per-layer plot into ``plots`` (none for a case that crashed)."""
    if not case_run.error:
        plots[f"case:{case_run.case.name}"] = plot_layers(case_run)


def draw_case_plots(case_runs, plots: dict) -> None:
    """Each case's per-layer plot not drawn yet, and the noise-floor plot, into ``plots``: they need only the cases' results."""
    for case_run in case_runs:
        if f"case:{case_run.case.name}" not in plots:
            draw_case_plot(case_run, plots)
    plots["noise"] = plot_noise([n for c in case_runs for n in c.noise])


def case_html(case_run, plots: dict | None = None) -> str:
    name = case_run.case.name
    parts = [f'<section class="case" id="case-{esc(name)}"><h3>{esc(name)}</h3><p>{esc(case_run.case.description)}</p>']
    if case_run.error:
        parts.append(f'<p class="bad verdict">crashed: {esc(case_run.error)}</p></section>')
        return "".join(parts)
    parts.append(
        f'<p class="note">family {esc(case_run.case.family)}; configuration <code>{esc(case_run.config)}</code></p>'
    )
    parts.append(frame_html(case_summary(case_run), verdict_columns=("result",)))
    failures = [r for r in case_run.records if r.passed is False or r.status != "compared"]
    if failures:
        items = "".join(
            f"<li>{esc(r.impl_b)} {esc(r.dtype)} {esc(r.quantity)}: {esc(r.status)} "
            f"max_rel_err={num(r.max_rel_err)} tolerance={num(r.tolerance)} {esc(r.detail)}</li>"
            for r in failures[:20]
        )
        parts.append(f"<ul>{items}</ul>")
    key = f"case:{name}"
    png = plots[key] if plots is not None and key in plots else plot_layers(case_run)
    parts.append(img(png, f"{name}: error per layer"))
    parts.append("</section>")
    return "".join(parts)


def html_page(data, step=None) -> str:
    """The whole page. ``step`` (if given) is called once per plot drawn, for a progress bar."""
    tick = step or (lambda: None)
    records = data.records
    compared = [r for r in records if r.status == "compared"]
    failed = [r for r in records if r.passed is False]
    missing = sorted({r.impl_b for r in records if r.status == "not installed"})
    crashed = sorted({f"{r.model} / {r.impl_b}" for r in records if r.status == "crashed"})
    verdict = (
        '<span class="ok verdict">all agree</span>'
        if data.passed
        else '<span class="bad verdict">disagreements found</span>'
    )
    summary = (
        f"<p>{len(data.cases)} cases, {len(compared)} comparisons, {len(failed)} beyond tolerance; "
        f"{sum(o.ok for o in data.divergences)} of {len(data.divergences)} divergence cases caught and converted. {verdict}</p>"
    )
    if missing:
        summary += f'<p class="bad">Not installed: {esc(", ".join(missing))}.</p>'
    if crashed:
        summary += f'<p class="bad">Crashed: {esc(", ".join(crashed))}.</p>'

    def drawn(key, plot, *args):
        # drawn while the workers computed (``parity.report.writer.collect``), or now
        return data.plots[key] if key in data.plots else plot(*args)

    noise_png = drawn("noise", plot_noise, data.noise)
    tick()
    divergence_png = drawn("divergences", plot_divergences, data.divergences)
    tick()
    trajectories_png = drawn("trajectories", plot_trajectories, data.trajectories)
    tick()
    case_sections = []
    for case_run in data.cases:
        case_sections.append(case_html(case_run, data.plots))
        tick()

    if trajectories_png is not None:
        trajectories = img(trajectories_png, "training trajectories")
    else:
        trajectories = f'<p class="note">{esc(data.trajectories_note or "No training trajectories.")}</p>'
    env = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in data.environment.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parity report</title>
<style>{CSS}</style>
</head>
<body data-rendered="pending">
<header>
<h1>Parity report</h1>
<p>scratch (NumPy), torch and Keras 3 on three backends, every case in float32 and float64. Generated {esc(data.generated)} in {data.elapsed:.0f} s.</p>
<nav><a href="#summary">summary</a><a href="#noise">noise floor</a><a href="#divergences">divergences</a><a href="#trajectories">training</a><a href="#cases">cases</a><a href="#environment">environment</a></nav>
</header>
<main>
<section id="summary">
<h2>Summary matrix</h2>
{summary}
<p class="note">Each cell: the verdict and the worst error over every compared quantity (outputs, loss, gradients, weights) in units of the dtype's
machine epsilon; float32 cells add the agreement as a multiple of the larger noise floor (passes up to {NOISE_FLOOR_MULTIPLE:g}x).
Hover a cell for its worst quantity.</p>
{matrix_html(data)}
</section>
<section id="noise"><h2>float32 against the noise floor</h2>
<p class="note">An implementation's noise floor is its own float32 result measured against its own float64 result. Two implementations
that compute the same maths cannot disagree in float32 by more than the sum of their floors (plus their float64 difference); the bound is
{NOISE_FLOOR_MULTIPLE:g} times the larger floor (parity.tolerance.NOISE_FLOOR_MULTIPLE).</p>
{img(noise_png, "float32 error against its noise floor")}
<details><summary>Per case and implementation: the float32 quantity closest to its bound</summary>
{frame_html(noise_frame(data), verdict_columns=("verdict",))}
</details>
</section>
<section id="divergences"><h2>Divergence cases</h2>
<p class="note">Where PyTorch and Keras differ in a default or a convention: the naive port must be caught, the converted port must pass, and
<code>parity inspect --divergence NAME</code> must point at the expected layer.</p>
{img(divergence_png, "divergence cases: naive against converted error")}
{divergences_html(data)}
</section>
<section id="trajectories"><h2>Training trajectories</h2>
{trajectories}
</section>
<section id="cases"><h2>Cases</h2>
{"".join(case_sections)}
</section>
<section id="environment"><h2>Environment</h2>
<table>{env}</table>
</section>
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""
