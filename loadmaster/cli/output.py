"""How commands print: aligned plain-text tables for people, indented JSON for scripts.

Tables have no borders and no trailing blanks, as `kubectl get` prints them, so `awk` and
`column` work on them; missing values show as `-` so columns never collapse.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran and failed: not found, unreachable, timed out
EXIT_USAGE = 2  # the input was wrong: bad flags, an invalid spec


def cell(value: object) -> str:
    text = str(value)
    return text if text else "-"


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], out: TextIO | None = None
) -> None:
    stream = out or sys.stdout
    lines = [list(headers), *([cell(v) for v in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        padded = [text.ljust(width) for text, width in zip(line, widths, strict=True)]
        print("  ".join(padded).rstrip(), file=stream)


def print_fields(pairs: Sequence[tuple[str, object]], out: TextIO | None = None) -> None:
    """`key: value` lines with the values aligned, for one object's status."""
    stream = out or sys.stdout
    width = max((len(key) for key, _ in pairs), default=0) + 1
    for key, value in pairs:
        print(f"{key + ':':<{width}} {cell(value)}", file=stream)


def print_json(value: object, out: TextIO | None = None) -> None:
    print(json.dumps(value, indent=2, sort_keys=False), file=out or sys.stdout)


def error(message: str) -> None:
    """Print `error: ...` to stderr, one prefixed line per line of `message`."""
    for line in message.splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


def note(message: str) -> None:
    """A remark for people (e.g. "no models") that must not pollute stdout."""
    print(message, file=sys.stderr)
