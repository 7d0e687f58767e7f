"""Sending validated resources to the scheduler one by one, and saying what became of each.

`model load` and `experiment start` both go through every spec even when one is refused (the
others still apply; the exit status says 2), and report per resource whether it was new,
changed or unchanged, as a line each or as one JSON list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

from loadmaster.cli.output import EXIT_OK, EXIT_USAGE, error, print_json
from loadmaster.client import InvalidSpec

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Sent:
    """The scheduler's reply to one resource: its name, version or uid, and whether it changed."""

    name: str
    number: int
    changed: bool


@dataclass(frozen=True, slots=True)
class Words:
    """How a kind of resource is reported, e.g. model / version / created / updated."""

    kind: str
    number: str
    new: str
    changed: str
    prefix_errors: bool = False  # name the resource in refusals that do not already


def apply_each(
    specs: Sequence[S],
    name_of: Callable[[S], str],
    send: Callable[[S], Sent],
    existing: Collection[str],
    words: Words,
    as_json: bool,
) -> int:
    results: list[dict[str, object]] = []
    status = EXIT_OK
    for spec in specs:
        name = name_of(spec)
        try:
            reply = send(spec)
        except InvalidSpec as exc:
            named = not words.prefix_errors or exc.message.startswith(f"{words.kind} {name}:")
            error(exc.message if named else f"{words.kind} {name}: {exc.message}")
            status = EXIT_USAGE
            continue
        if not reply.changed:
            result = "unchanged"
        else:
            result = words.changed if name in existing else words.new
        results.append({"name": reply.name, words.number: reply.number, "result": result})
        if not as_json:
            print(f"{words.kind} {reply.name}: {words.number} {reply.number} ({result})")
    if as_json:
        print_json(results)
    return status
