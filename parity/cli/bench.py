"""`parity bench`: scratch against torch, timed by the benchmarks in ``benchmarks/`` (``parity.bench``)."""

from __future__ import annotations

from parity.cli.args import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="speed of scratch against torch")
    p.add_argument("names", nargs="+", metavar="NAME", help="conv2d, lstm or all")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=None, help="threads for both NumPy's BLAS and torch (default: every core)")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from rich.table import Table

    from parity.bench import BENCHMARKS, ratios, run_benchmarks
    from parity.output import console, write_atomic

    names = list(BENCHMARKS) if "all" in args.names else args.names
    for name in names:
        if name not in BENCHMARKS:
            raise UsageError(f"unknown benchmark {name!r}; choose from: {', '.join(BENCHMARKS)} or all")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be positive, received {args.repeats}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be positive, received {args.threads}")
    records = run_benchmarks(names, args.repeats, args.threads)
    table = Table(title="parity bench (median of repeated runs)")
    for column in ("benchmark", "impl", "phase", "threads", "median (ms)"):
        table.add_column(column)
    for r in records:
        table.add_row(r["benchmark"], r["impl"], r["phase"], str(r["threads"]), f"{1000 * r['median_s']:.2f}")
    console.print(table)
    for (benchmark, phase), ratio in ratios(records).items():
        console.print(f"{benchmark} {phase}: scratch / torch = {ratio:.2f}")
    if args.json:
        write_atomic(args.json, json.dumps(records, indent=1) + "\n")
    return 0

