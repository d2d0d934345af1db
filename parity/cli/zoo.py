"""`parity zoo [NAMES...]`: keras.applications architectures ported to torch and back, one report (``parity.zoo``)."""

from __future__ import annotations

from parity.cli.args import UsageError, parse_dtypes, require_folder

STAGE_IMPLS = {"torch": "torch", "keras-torch": "keras"}  # --impl names the ports compared with the source


def add_parser(sub) -> None:
    p = sub.add_parser("zoo", help="keras.applications architectures ported to torch and back: zoo.md and zoo.html")
    p.add_argument(
        "names", nargs="*", metavar="NAME", help="architectures, as keras.applications names them (default: all)"
    )
    p.add_argument(
        "--input-size",
        type=int,
        metavar="N",
        help="input side (default: the smallest at which every BatchNormalization sees maps of 2x2 or more: 64, "
        "107 for the Inceptions, 71 for Xception, 32 without BatchNormalization)",
    )
    p.add_argument("--dtype", default="both", help="float64, float32 or both (default)")
    p.add_argument(
        "--impl",
        default="torch,keras-torch",
        metavar="IMPLS",
        help="torch (the torch port) and/or keras-torch (the Keras round trip); default both",
    )
    p.add_argument(
        "--steps", type=int, default=1, help="optimiser steps of source, torch port and scratch (default 1; 0: none)"
    )
    p.add_argument(
        "--branch-scale",
        type=float,
        default=1.0,
        metavar="C",
        help="EfficientNet architectures only: the last BatchNormalization of each residual branch starts at "
        "gamma * C (default 1: Keras' initialisation), so that an untrained model's residual stream stays bounded",
    )
    p.add_argument("--out", default="reports/zoo", metavar="DIR", help="the folder to write (default: reports/zoo)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from parity.output import console
    from parity.zoo import (
        AGREE_WITH_RULE,
        ARCHITECTURES,
        check_branch_scale,
        check_names,
        parts_summary,
        run_zoo,
        status_class,
        summary,
    )

    names = check_names(args.names) if args.names else list(ARCHITECTURES)
    dtypes = tuple(parse_dtypes(args.dtype))
    impls = [s.strip() for s in args.impl.split(",") if s.strip()]
    unknown = [i for i in impls if i not in STAGE_IMPLS]
    if unknown or not impls:
        raise UsageError(f"--impl: unknown {unknown[0] if unknown else 'empty'!r}; choose from: torch, keras-torch")
    if "torch" not in impls:
        impls.insert(0, "torch")  # the round trip starts from the torch port
    if args.input_size is not None and args.input_size < 32:
        raise UsageError(f"--input-size must be 32 or more, received {args.input_size}")
    check_branch_scale(names, args.branch_scale)  # before anything is written, as check_names
    if args.steps < 0:
        raise UsageError(f"--steps must be 0 or more, received {args.steps}")
    require_folder(args.out, "--out")
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("zoo", total=len(names))

        def step(name, row):
            if row is None:
                progress.update(task, description=f"zoo: {name}")
                return
            progress.advance(task)
            where = f" ({row.missing and 'missing ' + row.missing or row.detail})" if row.status != "agree" else ""
            worst = ", ".join(f"{d} {e:.1e}" for d, e in row.worst.items())
            parts = f" (inference {row.inference or '-'}, training steps {row.training or '-'})" if row.inference else ""
            progress.console.print(f"{name}: {row.status}{parts}{where} {worst} [{row.seconds:.0f} s]", highlight=False)

        rows = run_zoo(
            names,
            args.out,
            args.input_size,
            dtypes,
            tuple(STAGE_IMPLS[i] for i in impls),
            args.steps,
            args.seed,
            step,
            args.branch_scale,
        )
    console.print(parts_summary(rows), highlight=False)
    console.print(summary(rows), highlight=False)
    console.print(f"wrote {args.out}/zoo.md, zoo.html, zoo.json", highlight=False)
    # An agreement with a registered divergence's rule applied is an agreement explained, with both figures shown.
    return 0 if all(status_class(r.status) in ("agree", AGREE_WITH_RULE, "unsupported") for r in rows) else 1
