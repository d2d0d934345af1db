"""`parity divergences`: every registered divergence case, naive caught and converted passing.

For each case: its area, what differs, the worst error of the naive port and of the
converted port, whether the naive port is caught and the converted one passes, and
where ``parity inspect --divergence`` locates the naive difference (which must be the
case's own ``layer``).
"""

from __future__ import annotations

import json

from parity.divergences.outcome import DivergenceOutcome


def add_parser(sub) -> None:
    p = sub.add_parser("divergences", help="run the divergence cases: naive caught, converted passing")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=run)


def table(outcomes: list[DivergenceOutcome]):
    """One row per case; what differs is printed below it (``differences``), too long for a cell."""
    from rich.table import Table

    t = Table(title="divergence cases")
    for column in (
        "name",
        "area",
        "naive port",
        "naive error",
        "converted error",
        "naive caught",
        "converted passes",
        "inspect points at",
    ):
        t.add_column(column, justify="right" if "error" in column else "left", no_wrap=column == "name")
    for o in outcomes:
        d, r = o.divergence, o.result
        sides = f"{d.naive.a.impl} vs {d.naive.b.impl}, {d.case} {d.dtype}"
        if r is None:
            t.add_row(d.name, d.area, sides, "-", "-", "[red]crashed[/]", "[red]crashed[/]", "-")
            continue
        if o.locate_error:
            where = "[red]crashed[/]"
        else:
            where = f"{o.located}" + (" [green](expected)[/]" if o.located_ok else f" [red](expected {d.layer})[/]")
        t.add_row(
            d.name,
            d.area,
            sides,
            f"{r.naive_error:.3g}",
            f"{r.converted_error:.3g}",
            "[green]yes[/]" if r.naive_caught else "[red]no[/]",
            "[green]yes[/]" if r.converted_passes else "[red]no[/]",
            where,
        )
    return t


def differences(outcomes: list[DivergenceOutcome]) -> list[str]:
    """What differs, one paragraph per case (and why a case crashed)."""
    lines = []
    for o in outcomes:
        lines.append(f"[bold]{o.divergence.name}[/] ({o.divergence.area}): {o.divergence.differs}")
        for error in (o.error, o.locate_error):
            if error:
                lines.append(f"  [red]crashed[/]: {error}")
    return lines


def run(args) -> int:
    from rich.progress import Progress

    from parity.divergences import select
    from parity.divergences.outcome import evaluate
    from parity.output import console, write_atomic

    divergences = select(args.names)
    outcomes = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("divergences", total=len(divergences))
        for d in divergences:
            progress.update(task, description=f"running {d.name}")
            outcomes.append(evaluate(d, getattr(args, "seed", 0)))
            progress.advance(task)
    console.print(table(outcomes))
    for line in differences(outcomes):
        console.print(line, highlight=False)
    bad = [o for o in outcomes if not o.ok]
    console.print(f"{len(outcomes) - len(bad)} of {len(outcomes)} divergence cases: naive caught and converted passing")
    if args.json:
        write_atomic(args.json, json.dumps([o.as_dict() for o in outcomes], indent=1) + "\n")
    return 1 if bad else 0

