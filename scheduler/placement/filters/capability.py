"""Capability: a model's requirements must be a subset of the server's capabilities."""

from __future__ import annotations

from functools import reduce

from scheduler.placement.arrays import BoolArray, IntArray
from scheduler.placement.context import DemandContext
from scheduler.placement.filters.base import PASS, Filter, Reject, Verdict
from scheduler.placement.wording import count


def _names(capabilities: frozenset[str]) -> str:
    return ", ".join(sorted(capabilities))


def _noun(capabilities: frozenset[str]) -> str:
    return "capability" if len(capabilities) == 1 else "capabilities"


class CapabilityFilter(Filter):
    name = "capability"
    checks_existing = True

    def check(self, ctx: DemandContext, server: int) -> Verdict:
        missing = ctx.demand.requirements - ctx.fleet.capabilities[server]
        if not missing:
            return PASS
        return Reject(f"lacks {_noun(missing)} {_names(missing)}")

    def mask(self, ctx: DemandContext) -> BoolArray:
        return ctx.fleet.capable_mask(ctx.demand.requirements)

    def summarize(self, ctx: DemandContext, rejected: IntArray, reached: int) -> str | None:
        wanted = ctx.demand.requirements
        missing = [wanted - ctx.fleet.capabilities[int(i)] for i in rejected]
        if rejected.size < reached:
            union = reduce(frozenset.union, missing)
            verb = "lacks" if rejected.size == 1 else "lack"
            servers = count(int(rejected.size), "server")
            return f"{servers} {verb} {_noun(union)} {_names(union)}"
        everywhere = reduce(frozenset.intersection, missing)
        if everywhere:
            return f"no server{ctx.scope} has {_noun(everywhere)} {_names(everywhere)}"
        return f"no server{ctx.scope} has all of {_noun(wanted)} {_names(wanted)}"
