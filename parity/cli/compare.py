"""`parity compare A B`: two models meant to be the same, compared and diagnosed (``parity.ports``)."""

from __future__ import annotations

from parity.cli.args import UsageError, parse_dtypes


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare two models meant to be the same (a torch and a Keras port, say)")
    p.add_argument("a", metavar="A", help="path/to/file.py:factory or a .keras file")
    p.add_argument("b", metavar="B", help="path/to/file.py:factory or a .keras file")
    p.add_argument(
        "--weights-from",
        default="a",
        choices=("a", "b", "own"),
        help="whose weights both run with (default a); own: each its own, every weight compared too",
    )
    p.add_argument(
        "--weights-a",
        metavar="FILE",
        help="A's weights: a torch state_dict (.pt, loaded with weights_only=True) or a Keras .weights.h5",
    )
    p.add_argument("--weights-b", metavar="FILE", help="B's weights, the same way")
    p.add_argument("--input-shape", metavar="D,D,...", help="one sample of a torch model, in torch's layout (1,28,28)")
    p.add_argument("--dtype", default="float64", help="float64 (default), float32 or both")
    p.add_argument("--batch", type=int, default=2, help="the batch of seeded inputs (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--steps", type=int, default=0, help="also compare N training steps (loss and every weight per step)"
    )
    p.add_argument("--optimizer", default="sgd", help="the optimiser of those steps (default sgd)")
    p.add_argument("--json", metavar="PATH", help="write the records and the diagnosis as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from rich.table import Table

    from parity.cli.spec import parse_shape
    from parity.output import console, verdict_markup, write_atomic
    from parity.ports import compare

    if args.steps < 0:
        raise UsageError(f"--steps must be 0 or more, received {args.steps}")
    if args.batch < 1:
        raise UsageError(f"--batch must be a positive integer, received {args.batch}")
    results = [
        compare(
            args.a,
            args.b,
            input_shape=parse_shape(args.input_shape),
            dtype=dtype,
            batch=args.batch,
            seed=args.seed,
            weights_from=args.weights_from,
            weights_a=args.weights_a,
            weights_b=args.weights_b,
            steps=args.steps,
            optimizer=args.optimizer,
        )
        for dtype in parse_dtypes(args.dtype)
    ]
    for result in results:
        table = Table(title=f"{result.name_a} against {result.name_b}, {result.dtype}")
        for column in ("a", "b", "quantity", "max rel err", "tolerance", "result"):
            table.add_column(column)
        for row in result.records.itertuples():
            table.add_row(
                row.impl_a,
                row.impl_b,
                row.quantity,
                f"{row.max_rel_err:.2e}",
                f"{row.tolerance:.0e}",
                "[green]pass[/]" if row.passed else "[red]FAIL[/]",
            )
        console.print(table)
        verdict = verdict_markup(result.verdict)
        console.print(
            f"{result.name_a} and {result.name_b} {verdict} in {result.dtype}"
            + (f"; first diverging layer: {result.first_divergence}" if result.first_divergence else "")
        )
        for line in result.diagnosis:
            console.print(f"  {line}", highlight=False)
    if args.json:
        payload = [
            {
                "a": r.name_a,
                "b": r.name_b,
                "dtype": r.dtype,
                "agree": r.agree,
                "verdict": r.verdict,
                "rule": r.rule,
                "agree_with_rule": r.agree_with_rule,
                "degenerate": r.degenerate,
                "ill_conditioned": r.ill_conditioned,
                "first_divergence": r.first_divergence,
                "diagnosis": r.diagnosis,
                "records": json.loads(r.records.to_json(orient="records")),
            }
            for r in results
        ]
        write_atomic(args.json, json.dumps(payload, indent=1) + "\n")
    return 0 if all(r.explained for r in results) else 1
