"""Reasons: why a model got fewer replicas than it asked for, in words a user acts on.

Filters run again over the whole fleet as it stands after the decision (so servers that just got
a replica are turned away by anti-affinity, as they would be next time). Each filter summarizes
the servers it turned away, in pipeline order, from the general to the specific.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scheduler.placement.context import DemandContext
from scheduler.placement.filters import Filter, Verdict


def rejections(ctx: DemandContext, filters: Sequence[Filter]) -> list[str]:
    """One clause per filter that turned servers away, in pipeline order."""
    alive = np.ones(len(ctx.fleet), np.bool_)
    clauses: list[str] = []
    for plugin in filters:
        allowed = plugin.mask(ctx)
        rejected = np.flatnonzero(alive & ~allowed)
        if rejected.size:
            clause = plugin.summarize(ctx, rejected, int(np.count_nonzero(alive)))
            if clause:
                clauses.append(clause)
        alive &= allowed
        if not alive.any():
            break
    return clauses


def shortfall_reason(ctx: DemandContext, filters: Sequence[Filter], placed: int) -> str:
    """The `reason` of a Partial or Failed decision.

    With nothing placed the clauses stand alone ("no server has capability gpu"); otherwise they
    follow a count, and the minReplicas floor when the count is under it.
    """
    if not len(ctx.fleet):
        detail = "no servers registered"
    else:
        detail = "; ".join(rejections(ctx, filters)) or "no server passed the filters"
    if placed == 0:
        return detail
    demand = ctx.demand
    head = f"{placed} of {demand.replicas} replicas placed"
    if placed < demand.min_replicas:
        head += f", fewer than minReplicas {demand.min_replicas}"
    return f"{head}: {detail}"


def verdicts(ctx: DemandContext, filters: Sequence[Filter], server: str) -> dict[str, Verdict]:
    """Every filter's verdict on one server: the answer to "why not server b?"."""
    index = ctx.fleet.index[server]
    return {plugin.name: plugin.check(ctx, index) for plugin in filters}
