"""What every command shares: the parser that fails in one line, and the parsing of common options."""

from __future__ import annotations

import argparse
from pathlib import Path

from parity.case import parse_value
from parity.cases import get_case
from parity.implementations import DTYPES, IMPLEMENTATIONS


class UsageError(Exception):
    """Bad usage on the command line (exit status 2, one line on stderr)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def parse_impls(text: str, allow_scratch: bool = True) -> list[str]:
    if text == "all":
        return list(IMPLEMENTATIONS)
    impls = [s.strip() for s in text.split(",") if s.strip()]
    for impl in impls:
        if impl not in IMPLEMENTATIONS:
            raise UsageError(f"unknown implementation {impl!r}; choose from: {', '.join(IMPLEMENTATIONS)} or all")
    if not impls:
        raise UsageError(f"--impl is empty; choose from: {', '.join(IMPLEMENTATIONS)} or all")
    return impls


def parse_dtypes(text: str) -> list[str]:
    if text == "both":
        return list(DTYPES)
    if text not in DTYPES:
        raise UsageError(f"unknown dtype {text!r}; choose from: float32, float64, both")
    return [text]


def parse_sets(items: list[str]) -> dict:
    overrides = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--set expects KEY=VALUE, received {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = parse_value(value)
    return overrides


def require_folder(path: str, option: str) -> None:
    """``path`` must be a folder or a place where one can be made: not a file, nor under one."""
    for part in (Path(path), *Path(path).parents):
        if part.exists():
            if not part.is_dir():
                what = "is" if part == Path(path) else f"is under {str(part)!r}, which is"
                raise UsageError(f"{option} {path!r} {what} a file, not a folder")
            return


def validate_models(names: list[str]) -> None:
    for name in names:
        get_case(name)

