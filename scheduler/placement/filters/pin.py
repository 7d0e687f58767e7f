"""Pin: a model with `server: <pool>` goes only to servers of that pool."""

from __future__ import annotations

from scheduler.placement.arrays import BoolArray, IntArray
from scheduler.placement.context import DemandContext
from scheduler.placement.filters.base import PASS, Filter, Reject, Verdict


class PinFilter(Filter):
    name = "pin"
    checks_existing = True

    def check(self, ctx: DemandContext, server: int) -> Verdict:
        pool = ctx.demand.server
        if pool is None or ctx.fleet.pools[server] == pool:
            return PASS
        return Reject(f"is in pool '{ctx.fleet.pools[server]}', model is pinned to '{pool}'")

    def mask(self, ctx: DemandContext) -> BoolArray:
        return ctx.fleet.pool_mask(ctx.demand.server)

    def summarize(self, ctx: DemandContext, rejected: IntArray, reached: int) -> str | None:
        # Servers outside the pool are what the user asked for; only an empty pool is news.
        if rejected.size < reached:
            return None
        return f"pinned to pool '{ctx.demand.server}' which has no servers"
