"""Reading fields of user-written YAML: typed converters whose errors name the field.

Shared by every resource kind (`model_yaml`, `experiment_yaml`) so a wrong type, an unknown
field or a null reads the same in every document: `spec.replicas: expected an integer, got
'two'`, `spec.replcas: unknown field (did you mean replicas?)`. A converter raises ValueError
with the problem; `Getter` turns it into a problem at the field's path and carries on, so one
run reports every mistake.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from loadmaster.units import parse_memory

_T = TypeVar("_T")


class Fields:
    """Problems of one document, and which field paths had one (to silence follow-on checks)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.bad: set[str] = set()

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")
        self.bad.add(path)

    def unknown(self, mapping: Mapping[Any, Any], known: Sequence[str], prefix: str) -> None:
        for key in mapping:
            if key not in known:
                self.problem(f"{prefix}{key}", f"unknown field ({suggest(str(key), known)})")

    def add_checks(self, problems: Sequence[str]) -> None:
        """Add rule problems except those that mention a field that already has a parse
        problem: after `spec.replicas: expected an integer, got 'two'`, a complaint about the
        default that replaced it would only mislead."""
        bad_fields = [path for path in self.bad if "." in path]
        for problem in problems:
            if not any(path in problem for path in bad_fields):
                self.problems.append(problem)


def suggest(key: str, known: Sequence[str], cutoff: float = 0.6) -> str:
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=cutoff)
    if close:
        return f"did you mean {by_lower[close[0]]}?"
    return "known fields: " + ", ".join(known)


class ItemProblems(ValueError):
    """Problems inside a list or mapping field, each at its own sub-path (`[1]`, `.name`)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items
        super().__init__("; ".join(f"{path}: {message}" for path, message in items))


class Getter:
    """Reads one field of `raw` through a converter; a ValueError becomes a problem at its path.

    A null value (`replicas:` with nothing after it) means "not set", as in Kubernetes.
    """

    def __init__(self, raw: Mapping[Any, Any], fields: Fields, prefix: str = "spec.") -> None:
        self._raw = raw
        self._fields = fields
        self._prefix = prefix

    def __call__(self, key: str, convert: Callable[[object], _T], default: _T) -> _T:
        value = self._raw.get(key)
        if value is None:
            return default
        path = f"{self._prefix}{key}"
        try:
            return convert(value)
        except ItemProblems as exc:
            for sub, message in exc.items:
                self._fields.problem(f"{path}{sub}", message)
            self._fields.bad.add(path)
        except ValueError as exc:
            self._fields.problem(path, str(exc))
        return default


def string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {shown(value)}")
    return value


def count(value: object) -> int:
    """A whole number of at least 0; a bool is not one, though Python says it is."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {shown(value)}")
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def integer(value: object) -> int:
    """Any whole number (the spec's rules judge its range); not a bool, not 1.5."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {shown(value)}")
    return value


def quantity(value: object) -> int:
    """`200Mi`, `4Gi` or a whole number of bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(
            f"expected a quantity such as 200Mi or a number of bytes, got {shown(value)}"
        )
    return parse_memory(value)


def strings(value: object) -> frozenset[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of strings, got {shown(value)}")
    wrong = [
        (f"[{i}]", f"expected a string, got {shown(v)}")
        for i, v in enumerate(value)
        if not isinstance(v, str)
    ]
    if wrong:
        raise ItemProblems(wrong)
    return frozenset(str(v) for v in value)


def parameters(value: object) -> dict[str, str]:
    """Scalars become the strings runtimes read: 32 -> "32", true -> "true"."""
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping of names to values, got {shown(value)}")
    out: dict[str, str] = {}
    wrong: list[tuple[str, str]] = []
    for key, item in value.items():
        if isinstance(item, bool):
            out[str(key)] = "true" if item else "false"
        elif isinstance(item, str | int | float | date):
            out[str(key)] = str(item)
        else:
            message = f"expected a string, number or boolean, got {shown(item)}"
            wrong.append((f".{key}", message))
    if wrong:
        raise ItemProblems(wrong)
    return out


def shown(value: object) -> str:
    """How a wrong value is quoted in a message: scalars as written, containers by kind."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
