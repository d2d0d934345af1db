"""`parity spec`: the model spec of a user's PyTorch or Keras model (``parity.spec``)."""

from __future__ import annotations

from parity.cli.args import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("spec", help="print the model spec of a PyTorch or Keras model")
    p.add_argument("source", metavar="SOURCE", help="path/to/file.py:factory (returns an nn.Module or keras.Model) or a .keras file")
    p.add_argument("--input-shape", metavar="D,D,...", help="one sample's shape without the batch axis, in the source's layout (torch models)")
    p.add_argument("--json", metavar="PATH", help="write the spec as JSON")
    p.set_defaults(func=run)


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(d) for d in text.replace("(", "").replace(")", "").split(",") if d.strip())
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise UsageError(f"--input-shape expects positive integers separated by commas (1,28,28), received {text!r}")
    return shape


def run(args) -> int:
    from rich.table import Table

    from parity.output import console, write_atomic
    from parity.sources import spec_from_source

    spec = spec_from_source(args.source, parse_shape(args.input_shape))
    table = Table(title=f"{spec.name}: input {spec.input_shape} ({spec.input_dtype}), output {spec.output}")
    for column in ("layer", "kind", "reads", "config"):
        table.add_column(column)
    for node in spec.nodes:
        config = ", ".join(f"{k}={v}" for k, v in node.config.items())
        reads = ", ".join(node.inputs) + (f" (weights of {node.shares})" if node.shares else "")
        table.add_row(node.name, node.kind, reads, config)
    console.print(table)
    if args.json:
        write_atomic(args.json, spec.to_json())
        console.print(f"wrote {args.json}")
    return 0
