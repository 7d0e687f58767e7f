"""Least outstanding requests with two random choices ("power of two choices").

Picking the less busy of two random replicas spreads load almost as well as scanning them all,
needs no coordination between gateways, and never herds every request onto the one replica
that just became idle. Counts are per replica (server and version), local to this gateway.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Sequence, Set

from gateway.routes import Endpoint


class Balancer:
    """Chooses a replica and counts the requests each one is serving for this gateway."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._in_flight: dict[tuple[str, int], int] = {}

    def outstanding(self, endpoint: Endpoint) -> int:
        return self._in_flight.get(endpoint.key, 0)

    def choose(
        self, endpoints: Sequence[Endpoint], exclude: Set[Endpoint] = frozenset()
    ) -> Endpoint | None:
        """The less busy of two random candidates; None when `exclude` leaves none."""
        if exclude:
            excluded = {e.key for e in exclude}
            candidates: Sequence[Endpoint] = [e for e in endpoints if e.key not in excluded]
        else:
            candidates = endpoints
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        first, second = self._rng.sample(candidates, 2)
        return second if self.outstanding(second) < self.outstanding(first) else first

    def acquire(self, endpoint: Endpoint) -> None:
        self._in_flight[endpoint.key] = self._in_flight.get(endpoint.key, 0) + 1

    def release(self, endpoint: Endpoint) -> None:
        """Forget a replica at zero, so replicas that left the table leave no entry behind."""
        left = self._in_flight.get(endpoint.key, 0) - 1
        if left > 0:
            self._in_flight[endpoint.key] = left
        else:
            self._in_flight.pop(endpoint.key, None)

    @contextlib.asynccontextmanager
    async def using(self, endpoint: Endpoint) -> AsyncIterator[Endpoint]:
        """Count `endpoint` busy for the block, released however it ends (cancellation too)."""
        self.acquire(endpoint)
        try:
            yield endpoint
        finally:
            self.release(endpoint)
