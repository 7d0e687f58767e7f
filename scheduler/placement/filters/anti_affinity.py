"""Anti-affinity: at most one replica of a model version per server.

Two replicas of one version on one server add no availability. Other versions of the same model
may share the server: a rolling update loads the new version next to the old one.
"""

from __future__ import annotations

import numpy as np

from scheduler.placement.arrays import BoolArray, IntArray
from scheduler.placement.context import DemandContext
from scheduler.placement.filters.base import PASS, Filter, Reject, Verdict
from scheduler.placement.wording import count


class AntiAffinityFilter(Filter):
    name = "anti-affinity"

    def check(self, ctx: DemandContext, server: int) -> Verdict:
        if server in ctx.taken:
            return Reject("already holds a replica of this version")
        return PASS

    def mask(self, ctx: DemandContext) -> BoolArray:
        allowed = np.ones(len(ctx.fleet), np.bool_)
        if ctx.taken:
            allowed[list(ctx.taken)] = False
        return allowed

    def summarize(self, ctx: DemandContext, rejected: IntArray, reached: int) -> str | None:
        if rejected.size < reached:
            verb = "holds" if rejected.size == 1 else "hold"
            return f"{count(int(rejected.size), 'server')} already {verb} a replica of this version"
        if rejected.size == 1:
            return "the remaining server already holds a replica of this version"
        return "remaining servers already hold a replica of this version"
