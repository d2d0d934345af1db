"""`parity port SOURCE --to keras|torch`: a model rewritten in the other framework, weights and verdict included (``parity.porting``)."""

from __future__ import annotations

from parity.cli.args import UsageError, parse_dtypes, require_folder


def add_parser(sub) -> None:
    p = sub.add_parser(
        "port", help="port a model to the other framework: readable model.py, converted weights, verdict"
    )
    p.add_argument("source", metavar="SOURCE", help="path/to/file.py:factory or a .keras file")
    p.add_argument("--to", required=True, metavar="keras|torch", help="the target framework")
    p.add_argument("--input-shape", metavar="D,D,...", help="one sample of a torch model, in torch's layout (1,28,28)")
    p.add_argument("--out", metavar="DIR", help="the folder to write (default: port-<to>)")
    p.add_argument("--dtype", default="both", help="float64, float32 or both (default): the verification's dtypes")
    p.add_argument("--steps", type=int, default=5, help="optimiser steps trained by source, port and scratch (default 5; 0: none)")
    p.add_argument("--optimizer", default="sgd", metavar="NAME", help="the optimiser of those steps (default sgd)")
    p.add_argument("--seed", type=int, default=0, help="seeds a factory's initial weights (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from parity.cli.spec import parse_shape
    from parity.output import console, verdict_markup
    from parity.porting import TARGETS, port

    if args.to not in TARGETS:
        raise UsageError(f"--to must be keras or torch, received {args.to!r}")
    dtypes = tuple(parse_dtypes(args.dtype))
    out = args.out or f"port-{args.to}"
    require_folder(out, "--out")
    if args.steps < 0:
        raise UsageError(f"--steps must be 0 or more, received {args.steps}")
    result = port(
        args.source,
        args.to,
        out,
        parse_shape(args.input_shape),
        dtypes,
        seed=args.seed,
        steps=args.steps,
        optimizer=args.optimizer,
    )
    for comparison in result.comparisons:
        worst = comparison.records["max_rel_err"].max() if len(comparison.records) else float("nan")
        verdict = verdict_markup(comparison.verdict)
        where = f"; first diverging layer: {comparison.first_divergence}" if comparison.first_divergence else ""
        console.print(
            f"{result.spec.name} -> {args.to}: port and source {verdict} in {comparison.dtype}"
            f" ({len(comparison.records)} quantities, worst relative error {worst:.2e}){where}"
        )
        for line in comparison.diagnosis:
            console.print(f"  {line}", highlight=False)
    console.print(f"wrote {out}/ (model.py, weights, parity.json, parity.md)", highlight=False)
    return 0 if result.explained else 1

