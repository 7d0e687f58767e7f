"""place(): one model version's replicas onto the fleet, greedily, with reasons.

Greedy is exact here for one decision: replicas of one version never share a server, so giving a
replica to a server changes no other server's free memory or score. Placement therefore filters
and scores the fleet once and takes the best `missing` servers, instead of re-running the
pipeline per replica.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from scheduler.placement.context import DemandContext
from scheduler.placement.filters import DEFAULT_FILTERS, Filter, Verdict
from scheduler.placement.fleet import FleetView
from scheduler.placement.policy import DEFAULT_POLICY, PlacementPolicy
from scheduler.placement.reasons import shortfall_reason, verdicts
from scheduler.placement.records import (
    ModelDemand,
    PlacedReplica,
    PlacementDecision,
    ReplicaPlacement,
    Scheduling,
    ServerSnapshot,
)
from scheduler.placement.scorers import choose_device, removal_order


def place(
    demand: ModelDemand,
    servers: FleetView | Iterable[ServerSnapshot],
    policy: PlacementPolicy = DEFAULT_POLICY,
    filters: Sequence[Filter] = DEFAULT_FILTERS,
) -> PlacementDecision:
    """Decide which replicas of `demand` to keep, add and remove. Reads `servers`, changes nothing.

    Pass a `FleetView` (and `apply` each committed decision to it) when placing several models
    in one pass; a sequence of snapshots is indexed on every call.
    """
    fleet = servers if isinstance(servers, FleetView) else FleetView(servers)
    ctx = DemandContext(demand, fleet)
    keep, remove = _existing(ctx, filters, policy)
    add = _choose(ctx, filters, policy, demand.replicas - len(keep))
    placed = len(keep) + len(add)
    if placed >= demand.replicas:
        return PlacementDecision(demand.key, Scheduling.FULL, "", keep, add, remove)
    failed = placed == 0 or placed < demand.min_replicas
    return PlacementDecision(
        demand.key,
        Scheduling.FAILED if failed else Scheduling.PARTIAL,
        shortfall_reason(ctx, filters, placed),
        keep,
        add,
        remove,
    )


def _existing(
    ctx: DemandContext, filters: Sequence[Filter], policy: PlacementPolicy
) -> tuple[tuple[ReplicaPlacement, ...], tuple[ReplicaPlacement, ...]]:
    """Split replicas already placed into those that stay and those to unload.

    A replica stays while its server passes the rules about the server itself (capability, pin,
    not draining); rules about room do not apply, as it already has its room. Beyond the desired
    count, replicas go in the policy's removal order.
    """
    fleet = ctx.fleet
    held = fleet.holders.get(ctx.key, {})
    remove = list(fleet.extras.get(ctx.key, ()))
    if not held:
        return (), tuple(remove)
    stay = np.ones(len(fleet), np.bool_)
    for plugin in filters:
        if plugin.checks_existing:
            stay &= plugin.mask(ctx)
    staying = [i for i in held if stay[i]]
    remove.extend(ReplicaPlacement(fleet.names[i], held[i]) for i in held if not stay[i])
    excess = len(staying) - ctx.demand.replicas
    if excess > 0:
        order = removal_order(fleet, staying, policy.packing)
        remove.extend(ReplicaPlacement(fleet.names[i], held[i]) for i in order[:excess])
        staying = order[excess:]
    keep = tuple(ReplicaPlacement(fleet.names[i], held[i]) for i in sorted(staying))
    return keep, tuple(remove)


def _choose(
    ctx: DemandContext, filters: Sequence[Filter], policy: PlacementPolicy, missing: int
) -> tuple[ReplicaPlacement, ...]:
    """The best `missing` servers that pass every filter, each with its GPU device."""
    if missing <= 0 or not len(ctx.fleet):
        return ()
    allowed = filters[0].mask(ctx) if filters else np.ones(len(ctx.fleet), np.bool_)
    for plugin in filters[1:]:
        allowed = allowed & plugin.mask(ctx)
    candidates = np.flatnonzero(allowed)
    if not candidates.size:
        return ()
    total = np.zeros(candidates.size, np.float64)
    for scorer, weight in policy.scorers():
        total += weight * scorer.score(ctx, candidates)
    # A stable sort keeps fleet (name) order among equal scores, so ties are deterministic.
    best = candidates[np.argsort(-total, kind="stable")[:missing]]
    return tuple(_replica_on(ctx, int(i), policy) for i in best)


def _replica_on(ctx: DemandContext, server: int, policy: PlacementPolicy) -> ReplicaPlacement:
    fleet, demand = ctx.fleet, ctx.demand
    gpu: int | None = None
    gpu_bytes = 0
    if ctx.needs_gpu:
        gpu_bytes = int(ctx.gpu_cost[server])
        position = choose_device(fleet.gpu_free[server], gpu_bytes, policy.packing)
        if position is None:
            # Only a filter list without GpuMemoryFilter lets such a server through.
            raise ValueError(
                f"server {fleet.names[server]} passed the filters but no GPU has room for "
                f"{demand.key}: include GpuMemoryFilter when placing models that need a GPU"
            )
        gpu = fleet.gpu_ids[server][position]
    ctx.taken.add(server)
    replica = PlacedReplica(
        model=demand.key,
        memory_bytes=int(ctx.cost[server]),
        gpu=gpu,
        gpu_memory_bytes=gpu_bytes,
        workers=int(ctx.workers[server]),
    )
    return ReplicaPlacement(fleet.names[server], replica)


def explain(
    demand: ModelDemand,
    servers: FleetView | Iterable[ServerSnapshot],
    server: str,
    filters: Sequence[Filter] = DEFAULT_FILTERS,
) -> dict[str, Verdict]:
    """Each filter's verdict on one server for `demand`: the answer to "why not server b?"."""
    fleet = servers if isinstance(servers, FleetView) else FleetView(servers)
    return verdicts(DemandContext(demand, fleet), filters, server)
