"""Not draining: a server being emptied takes no new replicas, and its replicas move away."""

from __future__ import annotations

from scheduler.placement.arrays import BoolArray, IntArray
from scheduler.placement.context import DemandContext
from scheduler.placement.filters.base import PASS, Filter, Reject, Verdict
from scheduler.placement.wording import count


class DrainingFilter(Filter):
    name = "draining"
    checks_existing = True

    def check(self, ctx: DemandContext, server: int) -> Verdict:
        return PASS if ctx.fleet.active[server] else Reject("is draining")

    def mask(self, ctx: DemandContext) -> BoolArray:
        return ctx.fleet.active

    def summarize(self, ctx: DemandContext, rejected: IntArray, reached: int) -> str | None:
        if rejected.size == reached:
            return f"every candidate server{ctx.scope} is draining"
        verb = "is" if rejected.size == 1 else "are"
        return f"{count(int(rejected.size), 'server')}{ctx.scope} {verb} draining"
