"""The filter plugin contract: a pass or a reason, per server and for the fleet at once.

A filter states its rule once per server in `check` (what an operator asks: "why not server
b?") and once for all servers in `mask` (what placement runs: a few numpy operations instead of
a Python call per server). The two must agree; the tests hold them to it row by row. When a model
cannot be fully placed, `summarize` turns the servers this filter turned away into one clause a
user can act on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from scheduler.placement.arrays import BoolArray, IntArray
from scheduler.placement.context import DemandContext


@dataclass(frozen=True, slots=True)
class Pass:
    """The server may take a replica as far as this filter is concerned."""


@dataclass(frozen=True, slots=True)
class Reject:
    """The server may not, and why, in words about that one server."""

    reason: str


Verdict = Pass | Reject
PASS = Pass()


class Filter(ABC):
    """One placement rule. Subclasses are stateless; the context carries the demand."""

    name: ClassVar[str]
    # True when a replica already on a server must leave once the server fails the rule
    # (capability, pin, draining); False for rules about room, which a placed replica has.
    checks_existing: ClassVar[bool] = False

    @abstractmethod
    def check(self, ctx: DemandContext, server: int) -> Verdict:
        """The rule for one server (by its index in the fleet)."""

    @abstractmethod
    def mask(self, ctx: DemandContext) -> BoolArray:
        """The rule for every server at once; never write into the returned array."""

    @abstractmethod
    def summarize(self, ctx: DemandContext, rejected: IntArray, reached: int) -> str | None:
        """One clause about the `rejected` servers (of `reached` that got this far), or None
        when they are not worth mentioning (e.g. servers outside the pool a model is pinned to).
        """
