"""`parity fuzz`: random models from the registry against the float64 scratch oracle (``parity.fuzz``).

Exit status: 0 no finding, 1 findings (written under ``--out``), 2 bad input.
"""

from __future__ import annotations

from parity.cli.args import UsageError, parse_dtypes, parse_impls, require_folder


def add_parser(sub) -> None:
    p = sub.add_parser("fuzz", help="random models, judged against the float64 scratch oracle; disagreements shrunk")
    limit = p.add_mutually_exclusive_group()
    limit.add_argument("--budget", type=int, metavar="N", help="models to try (default 20)")
    limit.add_argument("--time", type=float, metavar="SECONDS", help="try models for this long instead")
    p.add_argument("--seed", type=int, default=0, help="the campaign seed: model i is drawn from (seed, i)")
    p.add_argument("--max-layers", type=int, default=4, metavar="K", help="layers per model, at most (default 4)")
    p.add_argument("--kinds", metavar="LIST", help="comma-separated layer kinds to draw (default: every fuzzable kind)")
    p.add_argument("--impl", default="all", help="implementations to judge against scratch, comma-separated or 'all'")
    p.add_argument("--dtype", default="both", help="float32, float64 or both (default)")
    p.add_argument("--steps", type=int, default=0, metavar="N", help="also train each model N steps of a random optimiser (float64 trajectories)")
    p.add_argument("--disable-rule", action="append", default=[], metavar="RULE", help="switch a conversion rule off (plant a naive port; repeatable)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="processes (same seed, same findings whatever N)")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="judge on a Ray cluster, --workers actors: a local one started for the campaign, or the cluster at ADDRESS (needs ray)",
    )
    p.add_argument("--out", default="reports/fuzz", metavar="DIR", help="where findings/ and summary.md go (default reports/fuzz)")
    p.add_argument("--json", metavar="PATH", help="write the campaign and its findings as JSON")
    p.set_defaults(func=run)


def known_rules() -> set[str]:
    """Every named conversion rule: the converters', those the divergence cases switch off, and the
    divergence cases whose naive port is a framework default (``framework_defaults``)."""
    from parity.divergences import all_divergences
    from parity.layers import REGISTRY

    rules = set(framework_defaults())  # planted as the framework's own default
    rules |= {rule for kind in REGISTRY for rule in kind.converter.rules}
    for divergence in all_divergences().values():
        for variant in (divergence.naive, divergence.converted):
            for side in (variant.a, variant.b):
                rules.update(side.disabled_rules)
    return rules


def framework_defaults() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Divergence cases whose naive port leaves configuration keys at None (each framework's own
    default, e.g. ``batchnorm_epsilon``): name -> (layer kind, keys). Switching one off
    (``--disable-rule batchnorm_epsilon``) makes the campaign draw those keys as None for that kind
    (``parity.fuzz.draw.plant``): scratch and Keras then take Keras' default and torch its own."""
    import re

    from parity.divergences import all_divergences
    from parity.fuzz.draw import KINDS

    found = {}
    for name, divergence in all_divergences().items():
        keys = getattr(divergence, "keys", ())
        sides = (divergence.naive.a, divergence.naive.b) if hasattr(divergence.naive, "a") else ()
        if not keys or not any(all(k in s.config and s.config[k] is None for k in keys) for s in sides):
            continue
        kind = re.sub(r"_\d+$", "", divergence.layer)
        if kind in KINDS:
            found[name] = (kind, tuple(keys))
    return found


def settings_from(args):
    from parity.fuzz.campaign import Settings
    from parity.fuzz.draw import FUZZABLE, MERGES, parse_kinds

    if args.ray is not None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("--ray: ray is not installed (pip install 'demystify[ray]'); use --workers N for local processes") from None
    if args.steps < 0:
        raise UsageError(f"--steps must be 0 or a positive integer, received {args.steps}")
    for option, value in (("--budget", args.budget), ("--workers", args.workers), ("--max-layers", args.max_layers)):
        if value is not None and value < 1:
            raise UsageError(f"{option} must be a positive integer, received {value}")
    if args.time is not None and not args.time > 0:
        raise UsageError(f"--time must be a positive number of seconds, received {args.time}")
    kinds = FUZZABLE if args.kinds is None else parse_kinds([k.strip() for k in args.kinds.split(",") if k.strip()])
    if not set(kinds) - set(MERGES):
        raise UsageError(f"--kinds {args.kinds!r}: name at least one layer kind besides {' and '.join(MERGES)}")
    impls = tuple(i for i in parse_impls(args.impl) if i != "scratch")
    if not impls:
        raise UsageError("--impl: scratch is the oracle; name at least one other implementation")
    rules = known_rules()
    for rule in args.disable_rule:
        if rule not in rules:
            raise UsageError(f"--disable-rule: unknown rule {rule!r}; rules: {', '.join(sorted(rules))}")
    require_folder(args.out, "--out")
    return Settings(
        seed=args.seed,
        budget=None if args.time is not None else (args.budget or 20),
        seconds=args.time,
        max_layers=args.max_layers,
        kinds=tuple(kinds),
        impls=impls,
        dtypes=tuple(parse_dtypes(args.dtype)),
        disabled=tuple(args.disable_rule),
        defaults=tuple(spec for name, spec in framework_defaults().items() if name in args.disable_rule),
        workers=args.workers,
        ray=args.ray,
        steps=args.steps,
    )


def run(args) -> int:
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from parity.fuzz.campaign import run_campaign, write_findings
    from parity.output import console, write_atomic

    settings = settings_from(args)
    columns = [TextColumn("fuzz"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[findings]} finding(s)")]
    columns += [TextColumn("{task.fields[rate]:.1f} models/min"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        total = settings.budget if settings.budget is not None else None
        task = progress.add_task("fuzz", total=total, findings=0, rate=0.0)

        def update(outcome) -> None:
            rate = 60 * outcome.tried / outcome.seconds if outcome.seconds else 0.0
            progress.update(task, completed=outcome.tried, findings=len(outcome.findings), rate=rate)
            if outcome.findings:  # written as they come: a campaign stopped early keeps what it found
                write_findings(outcome, settings, args.out)
            if not console.is_terminal:  # a log file gets one line per batch instead of a live bar
                console.print(
                    f"fuzz: {outcome.tried} models, {len(outcome.findings)} finding(s), "
                    f"{outcome.seconds:.0f} s, {rate:.2f} models/min",
                    highlight=False,
                )

        outcome = run_campaign(settings, update)
    paths = write_findings(outcome, settings, args.out)
    for finding, path in zip(outcome.findings, paths):
        d = finding.disagreement
        error = "-" if d.error is None else f"{d.error:.3g}"
        layers = " -> ".join(node.kind for node in finding.trial.spec.nodes)
        console.print(
            f"[red]finding[/] {finding.id}: scratch vs {d.impl} {d.dtype} {d.quantity} max_rel_err={error} "
            f"(tolerance {d.bound}); minimal model: {layers}; inspect names {finding.layer or '-'}; rerun: python -m parity.cli check --spec {path}"
        )
    for known in outcome.known:
        console.print(f"known upstream bug {known.name} ({known.upstream}): {known.impl} {known.dtype}, {known.seen} model(s)")
    console.print(f"{outcome.tried} models, {len(outcome.findings)} finding(s); summary: {args.out}/summary.md")
    if args.json:
        data = {
            "seed": settings.seed,
            "tried": outcome.tried,
            "seconds": outcome.seconds,
            "findings": [f.as_dict(settings) for f in outcome.findings],
            "known": [k.as_dict() for k in outcome.known],
        }
        write_atomic(args.json, json.dumps(data, indent=1) + "\n")
    return 1 if outcome.findings else 0
