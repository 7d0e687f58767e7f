"""argparse value types shared by the subcommands: each turns bad text into a clear message."""

from __future__ import annotations

import argparse

from loadmaster.units import parse_memory


def memory(text: str) -> int:
    try:
        return parse_memory(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def capabilities(text: str) -> frozenset[str]:
    caps = frozenset(c.strip() for c in text.split(",") if c.strip())
    if not caps:
        raise argparse.ArgumentTypeError("give at least one capability, e.g. torch")
    return caps


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _finite_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds, got {text!r}")
    return value


def seconds(text: str) -> float:
    """A duration above 0 (timeouts, waits)."""
    value = _finite_seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def seconds_or_zero(text: str) -> float:
    """A duration of 0 or more (0: do not wait)."""
    value = _finite_seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def percent(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole percentage, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value
