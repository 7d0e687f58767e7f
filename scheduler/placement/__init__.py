"""Placement core of the scheduler: which server takes which replica of which model version.

Pure and synchronous: no I/O, no clock, no store. The reconcile loop builds a `FleetView` from
`ServerSnapshot`s once per pass, calls `place` for each model version, and `apply`s every
decision it commits. Placement follows the Kubernetes scheduler framework: filters (pin,
capability, draining, anti-affinity, memory, GPU memory) pass a server or give a reason; scorers
(GPU reserve, model affinity, best-fit or spread packing) rank the rest under a
`PlacementPolicy`. `explain` answers "why not server b?" with every filter's verdict.

Layering: this package imports only `loadmaster.*` and numpy, never the agent or the gateway.
"""

from __future__ import annotations

from scheduler.placement.bounds import lower_bound_servers
from scheduler.placement.context import DemandContext
from scheduler.placement.filters import DEFAULT_FILTERS, Filter, Pass, Reject, Verdict
from scheduler.placement.fleet import FleetView
from scheduler.placement.placer import explain, place
from scheduler.placement.policy import DEFAULT_POLICY, PEER_SPREAD_POLICY, PlacementPolicy
from scheduler.placement.records import (
    GpuDevice,
    ModelDemand,
    ModelKey,
    PlacedReplica,
    PlacementDecision,
    ReplicaPlacement,
    Scheduling,
    ServerSnapshot,
)
from scheduler.placement.scorers import Packing, Scorer

__all__ = [
    "DEFAULT_FILTERS",
    "DEFAULT_POLICY",
    "PEER_SPREAD_POLICY",
    "DemandContext",
    "Filter",
    "FleetView",
    "GpuDevice",
    "ModelDemand",
    "ModelKey",
    "Packing",
    "Pass",
    "PlacedReplica",
    "PlacementDecision",
    "PlacementPolicy",
    "Reject",
    "ReplicaPlacement",
    "Scheduling",
    "Scorer",
    "ServerSnapshot",
    "Verdict",
    "explain",
    "lower_bound_servers",
    "place",
]
