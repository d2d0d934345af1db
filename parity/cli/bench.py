"""`parity bench`: scratch against torch, timed by the benchmarks in ``benchmarks/`` (``parity.bench``)."""

from __future__ import annotations

from parity.cli.args import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="speed of scratch against torch")
    p.add_argument("names", nargs="+", metavar="NAME", help="conv2d, lstm, attention or all")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument(
        "--threads", type=int, default=None, help="threads for both NumPy's BLAS and torch (default: every core)"
    )
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements (a fresh process each)")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from rich.table import Table

    from parity.bench import BENCHMARKS, MEMORY_METHOD, ratios, run_benchmarks
    from parity.output import console, write_atomic

    names = list(BENCHMARKS) if "all" in args.names else args.names
    for name in names:
        if name not in BENCHMARKS:
            raise UsageError(f"unknown benchmark {name!r}; choose from: {', '.join(BENCHMARKS)} or all")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be positive, received {args.repeats}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be positive, received {args.threads}")
    records = run_benchmarks(names, args.repeats, args.threads, memory=not args.no_memory)
    table = Table(title="parity bench (median of repeated runs)")
    columns = ["benchmark", "impl", "phase", "threads", "median (ms)", "GFLOP/s"]
    if not args.no_memory:
        columns.append("peak MiB (pass)")
    for column in columns:
        table.add_column(column)
    for r in records:
        row = [
            r["benchmark"],
            r["impl"],
            r["phase"],
            str(r["threads"]),
            f"{1000 * r['median_s']:.2f}",
            f"{r['gflops']:.1f}",
        ]
        if not args.no_memory:
            row.append(f"{r['peak_bytes'] / 2**20:.1f} ({r['pass_bytes'] / 2**20:.1f})")
        table.add_row(*row)
    console.print(table)
    if records:
        console.print(
            f"ceiling: NumPy's BLAS on a 1024x1024 float32 matmul, same run and threads: {records[0]['blas_gflops']:.1f} GFLOP/s; "
            "GFLOP/s counts each phase's GEMMs (2·M·N·K each), the same count for both implementations"
        )
    for (benchmark, phase), ratio in ratios(records).items():
        console.print(f"{benchmark} {phase}: scratch / torch = {ratio:.2f}")
    if not args.no_memory:
        console.print(f"memory: {MEMORY_METHOD}")
        for (benchmark, phase), ratio in ratios(records, "peak_bytes").items():
            console.print(f"{benchmark} {phase}: scratch / torch peak memory = {ratio:.2f}")
    if args.json:
        write_atomic(args.json, json.dumps(records, indent=1) + "\n")
    return 0
