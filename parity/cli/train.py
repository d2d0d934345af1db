"""`parity train MODEL`: every implementation trained from the same weights on the same batches (``parity.train``);
`parity train EXAMPLE`: the same on real data, with held-out scores (``parity.examples``)."""

from __future__ import annotations

import math

from parity.cli.args import UsageError, parse_dtypes, parse_impls, parse_sets


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="compare whole training runs step by step")
    p.add_argument("model", metavar="MODEL")
    p.add_argument(
        "--optimizer", default=None, help="sgd, momentum, nesterov, rmsprop, rmsprop_centered, adam, adamw (default: sgd; an example's own)"
    )
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (default: 20; an example's own length)")
    p.add_argument("--batch", type=int, default=None, help="mini-batch size (default: the case's batch)")
    p.add_argument("--lr", type=float, default=None, help="learning rate, for every implementation (default: the optimiser's, see parity.training.spec.OPTIMIZERS)")
    p.add_argument("--dtype", default="float64", help="float32, float64 or both")
    p.add_argument("--impl", default="all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--plot", metavar="PATH", help="plot the disagreement against the step count")
    p.set_defaults(func=run)


def run(args) -> int:
    from rich.progress import Progress
    from rich.table import Table

    from parity.cases import get_case
    from parity.examples import EXAMPLES
    from parity.output import console, write_json
    from parity.tolerance import TRAJECTORY_FLOAT64_REL
    from parity.train import plot_growth, train_case, trajectory_frame

    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps must be a positive integer, received {args.steps}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise UsageError(f"--lr must be a positive number, received {args.lr}")
    impls = parse_impls(args.impl)
    dtypes = parse_dtypes(args.dtype)
    overrides = parse_sets(args.set)
    if args.model in EXAMPLES:
        if args.lr is not None:
            overrides["learning_rate"] = args.lr
        return run_example(args, impls, dtypes, overrides)
    get_case(args.model)
    args.steps = 20 if args.steps is None else args.steps
    args.optimizer = "sgd" if args.optimizer is None else args.optimizer
    runs = len(dtypes) * len([i for i in impls if i != "scratch"])
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"training {args.model} ({args.optimizer}, {args.steps} steps)", total=runs)
        records, results = train_case(
            args.model, args.optimizer, args.steps, args.batch, impls, dtypes, args.seed, overrides, progress=lambda: progress.advance(task), learning_rate=args.lr
        )
    table = Table(title=f"parity train {args.model} --optimizer {args.optimizer} --steps {args.steps}")
    for column in ("impl", "dtype", "final loss", "final max rel err", "worst step", "tolerance", "result"):
        table.add_column(column)
    df = trajectory_frame(records)
    for (impl, dtype), group in df.groupby(["impl_b", "dtype"], sort=False):
        final = group[group["step"] == group["step"].max()]
        judged = [r for r in records if r.impl_b == impl and r.dtype == dtype]
        verdict = "measured" if dtype == "float32" else ("[green]pass[/]" if all(r.passed for r in judged) else "[red]FAIL[/]")
        worst = group.loc[group[["loss", "weights"]].max(axis=1).idxmax()]
        table.add_row(
            impl,
            dtype,
            f"{results[(impl, dtype)].losses[-1]:.6g}",
            f"{final[['loss', 'weights']].max(axis=1).iloc[0]:.2e}",
            f"{int(worst['step'])}",
            f"{TRAJECTORY_FLOAT64_REL:.0e}" if dtype == "float64" else "-",
            verdict,
        )
    console.print(table)
    for r in records:
        if r.status in ("not installed", "crashed"):
            console.print(f"[yellow]{r.status}[/] {r.impl_b}: {r.detail}")
    if args.json:
        write_json(args.json, records)
    if args.plot:
        plot_growth(records, args.plot, f"{args.model}, {args.optimizer}: disagreement with scratch per step")
        console.print(f"wrote {args.plot}")
    return 1 if any(r.passed is False for r in records) else 0



def run_example(args, impls, dtypes, overrides) -> int:
    """`parity train EXAMPLE`: train every implementation on real data, print held-out scores, plot the losses."""
    from rich.progress import Progress
    from rich.table import Table

    from parity import examples
    from parity.examples import Example
    from parity.output import console, write_json
    from parity.training.spec import OPTIMIZERS

    example = examples.EXAMPLES[args.model]
    if overrides:
        example = Example(**{**example.__dict__, "overrides": {**example.overrides, **overrides}})
    if args.optimizer is not None:
        if args.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {args.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        example = Example(**{**example.__dict__, "optimizer": args.optimizer})
    runs = len(dtypes) * (1 + len([i for i in impls if i != "scratch"]))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"{example.name}: training {runs} runs", total=runs)
        records, rows, losses, gaps = examples.run_example(example, impls, dtypes, args.seed, args.steps, lambda: progress.advance(task))
    table = Table(title=f"{example.name} ({example.optimizer}): held-out {example.metric}")
    for column in ("impl", "dtype", example.metric, "final loss", "wall time (s)"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["impl"], row["dtype"], row["score"], f"{row['final_loss']:.6g}", f"{row['wall_s']:.2f}")
    console.print(table)
    failed = [r for r in records if r.passed is False]
    worst = max((r.max_rel_err for r in records if r.dtype == "float64" and r.max_rel_err is not None), default=0.0)
    console.print(f"float64 trajectories: worst relative difference from scratch over all steps {worst:.2e} ({'pass' if not failed else 'FAIL'})")
    path = args.plot or f"reports/examples/{example.name}.png"
    examples.plot_losses(example, losses, gaps, path)
    console.print(f"wrote {path}")
    if args.json:
        write_json(args.json, records)
    return 1 if failed else 0

