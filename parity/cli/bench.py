"""`parity bench`: scratch against torch, timed by the benchmarks in ``benchmarks/`` (``parity.bench``)."""

from __future__ import annotations

from parity.cli.args import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="speed of scratch against torch")
    p.add_argument("names", nargs="+", metavar="NAME", help="conv2d, lstm, attention or all; fuzz (not in all): parity fuzz models per minute")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument(
        "--threads", type=int, default=None, help="threads for both NumPy's BLAS and torch (default: every core)"
    )
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements (a fresh process each)")
    p.add_argument("--fuzz-models", type=int, default=8, metavar="N", help="fuzz: models per campaign (default 8)")
    p.add_argument("--fuzz-workers", default="1,2", metavar="LIST", help="fuzz: worker counts to time (default 1,2)")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=run)


def fuzz_rates(models: int, workers: list[int], seed: int = 0, **narrower) -> list[dict]:
    """``parity fuzz`` throughput: one campaign of ``models`` models (seed ``seed``, every kind, every
    implementation, both dtypes, no rule switched off) per worker count, in models per minute. The
    same seed gives the same models whatever the workers, so the rates compare like with like;
    shrinking a finding is part of a campaign and counts in its time. ``narrower``: other
    ``parity.fuzz.campaign.Settings`` fields (a test's impls and dtypes)."""
    from parity.fuzz.campaign import Settings, run_campaign

    records = []
    for n in workers:
        outcome = run_campaign(Settings(seed=seed, budget=models, workers=n, **narrower))
        rate = 60 * outcome.tried / outcome.seconds if outcome.seconds else 0.0
        records.append(
            {"benchmark": "fuzz", "workers": n, "models": outcome.tried, "seconds": outcome.seconds,
             "models_per_minute": rate, "findings": len(outcome.findings)}
        )
    return records


def _run_fuzz(args) -> list[dict]:
    from rich.table import Table

    from parity.output import console

    try:
        workers = [int(w) for w in args.fuzz_workers.split(",") if w.strip()]
    except ValueError:
        raise UsageError(f"--fuzz-workers: expected comma-separated positive integers, received {args.fuzz_workers!r}") from None
    if not workers or min(workers) < 1:
        raise UsageError(f"--fuzz-workers: expected comma-separated positive integers, received {args.fuzz_workers!r}")
    if args.fuzz_models < 1:
        raise UsageError(f"--fuzz-models must be positive, received {args.fuzz_models}")
    records = fuzz_rates(args.fuzz_models, workers)
    table = Table(title="parity bench fuzz (seed 0, every kind, implementation and dtype)")
    for column in ("workers", "models", "seconds", "models/minute", "findings"):
        table.add_column(column)
    for r in records:
        table.add_row(str(r["workers"]), str(r["models"]), f"{r['seconds']:.1f}", f"{r['models_per_minute']:.1f}", str(r["findings"]))
    console.print(table)
    return records


def run(args) -> int:
    import json

    from rich.table import Table

    from parity.bench import BENCHMARKS, MEMORY_METHOD, ratios, run_benchmarks
    from parity.output import console, write_atomic

    fuzz = "fuzz" in args.names
    names = list(BENCHMARKS) if "all" in args.names else [n for n in args.names if n != "fuzz"]
    fuzz_records = _run_fuzz(args) if fuzz else []
    if fuzz and not names:
        if args.json:
            write_atomic(args.json, json.dumps(fuzz_records, indent=1) + "\n")
        return 0
    for name in names:
        if name not in BENCHMARKS:
            raise UsageError(f"unknown benchmark {name!r}; choose from: {', '.join(BENCHMARKS)}, fuzz or all")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be positive, received {args.repeats}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be positive, received {args.threads}")
    records = run_benchmarks(names, args.repeats, args.threads, memory=not args.no_memory)
    table = Table(title="parity bench (median of repeated runs)")
    columns = ["benchmark", "impl", "phase", "threads", "median (ms)", "CPU median (ms)", "GFLOP/s"]
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
            f"{1000 * r['median_cpu_s']:.2f}",
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
    for (benchmark, phase), ratio in ratios(records, "median_cpu_s").items():
        console.print(f"{benchmark} {phase}: scratch / torch CPU time = {ratio:.2f} (less disturbed by load)")
    if not args.no_memory:
        console.print(f"memory: {MEMORY_METHOD}")
        for (benchmark, phase), ratio in ratios(records, "peak_bytes").items():
            console.print(f"{benchmark} {phase}: scratch / torch peak memory = {ratio:.2f}")
    if args.json:
        write_atomic(args.json, json.dumps(records + fuzz_records, indent=1) + "\n")
    return 0
