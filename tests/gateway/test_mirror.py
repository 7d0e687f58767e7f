"""Mirror copies: run in the background, bounded, and never fail the caller."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from gateway.metrics import GatewayMetrics
from gateway.mirror import Mirrorer
from tests.gateway.fakes import until


def outcome(registry: CollectorRegistry, name: str) -> float:
    labels = {"experiment": "ab", "model": "shadow", "outcome": name}
    return registry.get_sample_value("loadmaster_gateway_mirrored_requests_total", labels) or 0.0


async def test_copies_beyond_the_bound_are_dropped_and_failures_only_counted() -> None:
    registry = CollectorRegistry()
    mirrorer = Mirrorer(GatewayMetrics(registry), max_in_flight=2)
    gate = asyncio.Event()

    async def held() -> None:
        await gate.wait()

    async def failing() -> None:
        raise RuntimeError("the mirror is down")

    mirrorer.fire("ab", "shadow", held)
    mirrorer.fire("ab", "shadow", held)
    mirrorer.fire("ab", "shadow", held)  # a third while two run: dropped
    assert (mirrorer.in_flight, outcome(registry, "dropped")) == (2, 1)
    gate.set()
    await until(lambda: mirrorer.in_flight == 0)
    assert outcome(registry, "sent") == 2

    mirrorer.fire("ab", "shadow", failing)
    await until(lambda: outcome(registry, "failed") == 1)
    assert mirrorer.in_flight == 0


async def test_close_cancels_copies_in_flight() -> None:
    registry = CollectorRegistry()
    mirrorer = Mirrorer(GatewayMetrics(registry))
    mirrorer.fire("ab", "shadow", asyncio.Event().wait)
    await asyncio.sleep(0)
    await mirrorer.close()
    assert (mirrorer.in_flight, outcome(registry, "cancelled")) == (0, 1)
