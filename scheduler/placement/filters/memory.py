"""Memory: the replica's cost (memory x workers) fits the server's free memory.

Free memory already includes the server's overcommit allowance (see `ServerSnapshot`).
"""

from __future__ import annotations

import numpy as np

from scheduler.placement.arrays import BoolArray, IntArray
from scheduler.placement.context import DemandContext
from scheduler.placement.filters.base import PASS, Filter, Reject, Verdict
from scheduler.placement.wording import count, free, per_replica


class MemoryFilter(Filter):
    name = "memory"

    def check(self, ctx: DemandContext, server: int) -> Verdict:
        available = int(ctx.fleet.free[server])
        if ctx.cost[server] <= available:
            return PASS
        needs = per_replica(ctx.demand.memory_bytes, int(ctx.workers[server]))
        return Reject(f"needs {needs}, has {free(available, int(ctx.cost[server]))} free")

    def mask(self, ctx: DemandContext) -> BoolArray:
        return ctx.cost <= ctx.fleet.free

    def summarize(self, ctx: DemandContext, rejected: IntArray, reached: int) -> str | None:
        # Name the closest fit: the server whose shortfall is smallest is what a user would
        # free memory on. With one worker count among them it is also the one with most free.
        shortfall = ctx.cost[rejected] - ctx.fleet.free[rejected]
        closest = int(rejected[int(np.argmin(shortfall))])
        name = ctx.fleet.names[closest]
        available = free(int(ctx.fleet.free[closest]), int(ctx.cost[closest]))
        needs = per_replica(ctx.demand.memory_bytes, int(ctx.workers[closest]))
        if np.all(ctx.workers[rejected] == ctx.workers[closest]):
            where = f"largest free is {available} on server {name}"
        else:
            where = f"closest fit is server {name} with {available} free"
        if rejected.size < reached:
            servers = count(int(rejected.size), "server")
            return f"{servers} short of memory: needs {needs}, {where}"
        return f"needs {needs}, {where}"
