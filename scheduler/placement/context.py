"""DemandContext: one model version's costs on every server, computed once per decision.

A replica's cost depends on the server (workers differ), so the costs are arrays aligned with
the fleet. Every filter and scorer reads them from here rather than recomputing them per server.
"""

from __future__ import annotations

import numpy as np

from scheduler.placement.arrays import IntArray
from scheduler.placement.fleet import FleetView
from scheduler.placement.records import ModelDemand


class DemandContext:
    """Per-decision working state; `taken` grows as `place` assigns replicas to servers."""

    __slots__ = ("cost", "demand", "fleet", "gpu_cost", "key", "taken", "workers")

    def __init__(self, demand: ModelDemand, fleet: FleetView) -> None:
        self.demand = demand
        self.fleet = fleet
        self.key = (demand.name, demand.version)
        if demand.instance_count is None:
            self.workers: IntArray = fleet.workers
        else:
            self.workers = np.full(len(fleet), demand.instance_count, np.int64)
        self.cost: IntArray = self.workers * demand.memory_bytes
        self.gpu_cost: IntArray = self.workers * demand.gpu_memory_bytes
        # Servers that already hold a replica of this version, so anti-affinity rejects them.
        self.taken: set[int] = set(fleet.holders.get(self.key, {}))
        self.taken.update(fleet.index[p.server] for p in fleet.extras.get(self.key, ()))
        # A replica of this version still unloading is accounted under the negated version (it
        # holds memory but no longer counts); its server cannot take the version again yet.
        self.taken.update(fleet.holders.get((demand.name, -demand.version), {}))

    @property
    def needs_gpu(self) -> bool:
        return self.demand.gpu_memory_bytes > 0

    @property
    def scope(self) -> str:
        """' in pool X' when the model is pinned, so a reason says where it looked."""
        return "" if self.demand.server is None else f" in pool '{self.demand.server}'"
