"""`parity report`: every case on every implementation, in both dtypes, as a table and a page."""

from __future__ import annotations

import platform
from pathlib import Path

import pandas as pd
from rich.progress import Progress

from parity import DTYPES
from parity.case import all_cases
from parity.check import check_case
from parity.compare import Record
from parity.output import console, records_json, summary_table, write_atomic


def collect(impls: list[str], seed: int, models: list[str] | None = None) -> list[Record]:
    cases = [c for c in all_cases().values() if models is None or c.name in models]
    records: list[Record] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("parity report", total=len(cases))
        for case in cases:
            progress.update(task, description=f"checking {case.name}")
            try:
                records.extend(check_case(case.name, None, impls, DTYPES, seed))
            except Exception as error:  # noqa: BLE001  one broken case must not lose the others
                records.append(Record(case.name, "scratch", "all", "-", "all", None, None, None, None, False, "crashed", f"{type(error).__name__}: {error}"))
            progress.advance(task)
    return records


def frame(records: list[Record]) -> pd.DataFrame:
    return pd.DataFrame(records_json(records))


def summary_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """case x (implementation, dtype): "pass 3.2 eps" / "FAIL ..." / status."""
    compared = df[df["status"] == "compared"]

    def cell(group: pd.DataFrame) -> str:
        worst = group["err_in_eps"].max()
        verdict = "pass" if bool(group["passed"].all()) else "FAIL"
        return f"{verdict} ({worst:.1f} eps)" if pd.notna(worst) else verdict

    matrix = compared.groupby(["model", "impl_b", "dtype"]).apply(cell, include_groups=False).unstack(["impl_b", "dtype"])
    others = df[df["status"] != "compared"]
    for _, row in others.iterrows():
        matrix.loc[row["model"], (row["impl_b"], row["dtype"])] = row["status"]
    return matrix.sort_index(axis=1).fillna("-")


def environment() -> dict[str, str]:
    import importlib.metadata as md

    env = {"python": platform.python_version(), "platform": platform.platform(), "cpu": platform.processor() or platform.machine()}
    for package in ("numpy", "torch", "keras", "jax", "tensorflow-cpu", "pandas"):
        try:
            env[package] = md.version(package)
        except md.PackageNotFoundError:
            env[package] = "not installed"
    return env


def markdown(df: pd.DataFrame) -> str:
    lines = ["# Parity report", "", "Every case, every implementation compared with `scratch`, in float32 and float64.", ""]
    lines += ["Cells give the verdict and the worst error in units of the dtype's machine epsilon.", ""]
    lines.append(summary_matrix(df).to_markdown() if not df.empty else "(no records)")
    failures = df[df["passed"] == False]  # noqa: E712  pandas comparison
    lines += ["", f"## Failures ({len(failures)})", ""]
    if len(failures):
        cols = ["model", "impl_b", "dtype", "quantity", "max_rel_err", "tolerance", "detail"]
        lines.append(failures[cols].to_markdown(index=False))
    else:
        lines.append("None.")
    lines += ["", "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in environment().items()]
    return "\n".join(lines) + "\n"


def write_report(out: str, impls: list[str], seed: int, models: list[str] | None = None) -> int:
    records = collect(impls, seed, models)
    df = frame(records)
    out_dir = Path(out)
    # Everything is computed before anything is written, and each file is replaced atomically.
    csv_text = df.to_csv(index=False)
    md_text = markdown(df)
    write_atomic(out_dir / "results.csv", csv_text)
    write_atomic(out_dir / "parity.md", md_text)
    console.print(summary_table(records, "parity report"))
    console.print(f"wrote {out_dir / 'parity.md'} and {out_dir / 'results.csv'}")
    return 0 if all(r.passed is not False for r in records) else 1
