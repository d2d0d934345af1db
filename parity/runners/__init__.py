"""Runners: one per implementation, all returning the same ``RunResult``."""

from parity.runners.base import LayerTrace, RunRequest, RunResult, run

__all__ = ["LayerTrace", "RunRequest", "RunResult", "run"]
