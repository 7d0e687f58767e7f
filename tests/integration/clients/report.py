"""What the client scripts share: their command line and the JSON report they print.

Each check is a function returning JSON-able data. A check that raises does not stop the
others: its entry becomes `{"unexpected_error": "..."}`, which no test expects, so the pytest
side fails on that check and shows the client's own words.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

REPORT_PREFIX = "REPORT "

Check = Callable[[], Any]


def parse_args(description: str, cases: Sequence[str], argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--http", required=True, help="agent REST address, HOST:PORT")
    parser.add_argument("--grpc", required=True, help="agent gRPC address, HOST:PORT")
    parser.add_argument(
        "--case", action="append", choices=cases, required=True, help="group of checks to run"
    )
    parser.add_argument("--storage-uri", default="", help="a model URI to load by storage_uri")
    return parser.parse_args(argv)


def guard(check: Check) -> Any:
    """`check()`, or `{"unexpected_error": ...}` when it raises (the trace goes to stderr)."""
    try:
        return check()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return {"unexpected_error": f"{type(exc).__name__}: {exc}"}


def run_checks(checks: Mapping[str, Check]) -> dict[str, Any]:
    """Run `checks` in order; each one's result, or its unexpected error, under its name."""
    return {name: guard(check) for name, check in checks.items()}


def emit(report: Mapping[str, Any]) -> None:
    """Print the report as one prefixed line: clients may print their own lines too."""
    sys.stdout.write(REPORT_PREFIX + json.dumps(report, sort_keys=True) + "\n")
    sys.stdout.flush()


def no_error() -> dict[str, Any]:
    """The record of a call that was expected to fail but succeeded."""
    return {"status": None, "message": "the call succeeded"}


def client_side(exc: Exception) -> dict[str, Any]:
    """The record of an error that is not the server's answer (no status): a client refusal
    or a transport failure, named by its type."""
    return {"status": None, "message": f"{type(exc).__name__}: {exc}"}
