"""GPU memory: a model that needs a GPU fits on one device of the server.

A replica's GPU cost (GPU memory x workers) lands on a single device: workers of one replica
share that device rather than splitting across several.
"""

from __future__ import annotations

import numpy as np

from scheduler.placement.arrays import BoolArray, IntArray
from scheduler.placement.context import DemandContext
from scheduler.placement.filters.base import PASS, Filter, Reject, Verdict
from scheduler.placement.wording import count, free, per_replica


class GpuMemoryFilter(Filter):
    name = "gpu-memory"

    def check(self, ctx: DemandContext, server: int) -> Verdict:
        if not ctx.needs_gpu:
            return PASS
        if not ctx.fleet.gpu_ids[server]:
            return Reject("has no GPU")
        largest = int(ctx.fleet.gpu_best[server])
        if ctx.gpu_cost[server] <= largest:
            return PASS
        needs = per_replica(ctx.demand.gpu_memory_bytes, int(ctx.workers[server]), " of GPU")
        room = free(largest, int(ctx.gpu_cost[server]))
        return Reject(f"needs {needs}, its largest free GPU has {room}")

    def mask(self, ctx: DemandContext) -> BoolArray:
        if not ctx.needs_gpu:
            return np.ones(len(ctx.fleet), np.bool_)
        # A server without GPUs has gpu_best 0, below any positive need.
        return ctx.gpu_cost <= ctx.fleet.gpu_best

    def summarize(self, ctx: DemandContext, rejected: IntArray, reached: int) -> str | None:
        fleet = ctx.fleet
        with_gpu = np.array([i for i in rejected if fleet.gpu_ids[int(i)]], np.int64)
        without = int(rejected.size - with_gpu.size)
        clauses = []
        if with_gpu.size:
            shortfall = ctx.gpu_cost[with_gpu] - fleet.gpu_best[with_gpu]
            closest = int(with_gpu[int(np.argmin(shortfall))])
            device = fleet.gpu_ids[closest][int(np.argmax(fleet.gpu_free[closest]))]
            needs = per_replica(ctx.demand.gpu_memory_bytes, int(ctx.workers[closest]), " of GPU")
            largest = free(int(fleet.gpu_best[closest]), int(ctx.gpu_cost[closest]))
            where = f"server {fleet.names[closest]} gpu {device}"
            if np.all(ctx.workers[with_gpu] == ctx.workers[closest]):
                clauses.append(f"needs {needs}, largest free GPU is {largest} on {where}")
            else:
                clauses.append(f"needs {needs}, closest fit is {where} with {largest} free")
        if without and without == reached:
            clauses.append(f"no server{ctx.scope} has a GPU")
        elif without:
            verb = "has" if without == 1 else "have"
            clauses.append(f"{count(without, 'server')} {verb} no GPU")
        return "; ".join(clauses)
