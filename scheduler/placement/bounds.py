"""A lower bound on the servers any placement needs, to judge a packing against.

With equal servers this is ceil(total cost / capacity). With mixed sizes no placement can use
fewer servers than it takes to reach the total cost by adding capacities from the largest down,
so that is the bound. It ignores anti-affinity and fragmentation, so it is rarely reachable.
"""

from __future__ import annotations

from collections.abc import Iterable


def lower_bound_servers(total_cost: int, capacities: Iterable[int]) -> int:
    """Fewest servers whose capacities sum to at least `total_cost`.

    Raises ValueError when even the whole fleet is too small.
    """
    if total_cost <= 0:
        return 0
    reached = 0
    for used, capacity in enumerate(sorted(capacities, reverse=True), start=1):
        reached += capacity
        if reached >= total_cost:
            return used
    raise ValueError(f"total cost {total_cost} exceeds the fleet's capacity {reached}")
