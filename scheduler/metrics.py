"""Scheduler metrics (Prometheus), registered on a registry passed in, never the global one.

Gauges about models, pipelines and servers are recomputed after each reconcile pass from the
records, so they are always a true picture rather than a running tally that could drift.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Placement is sub-millisecond at 1,000 servers; buckets resolve that range and the slow tail.
_DECISION_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2, 0.25, 1.0)


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.decisions = Counter(
            "loadmaster_scheduler_placement_decisions",
            "Placement decisions by outcome",
            ["scheduling"],
            registry=registry,
        )
        self.decision_seconds = Histogram(
            "loadmaster_scheduler_placement_decision_seconds",
            "Time to decide one model version's placement",
            buckets=_DECISION_BUCKETS,
            registry=registry,
        )
        self.orders = Counter(
            "loadmaster_scheduler_orders", "Orders sent to agents", ["kind"], registry=registry
        )
        self.models = Gauge(
            "loadmaster_scheduler_models",
            "Models by state and scheduling",
            ["state", "scheduling"],
            registry=registry,
        )
        self.pipelines = Gauge(
            "loadmaster_scheduler_pipelines", "Pipelines by state", ["state"], registry=registry
        )
        self.servers = Gauge(
            "loadmaster_scheduler_servers", "Servers by state", ["state"], registry=registry
        )
        self.server_memory = Gauge(
            "loadmaster_scheduler_server_memory_bytes",
            "Server memory: usable capacity (with overcommit), used by replicas, and free",
            ["server", "kind"],
            registry=registry,
        )

    def set_models(self, states: Iterable[tuple[str, str]]) -> None:
        self.models.clear()
        for (state, scheduling), n in Tally(states).items():
            self.models.labels(state, scheduling).set(n)

    def set_pipelines(self, states: Iterable[str]) -> None:
        self.pipelines.clear()
        for state, n in Tally(states).items():
            self.pipelines.labels(state).set(n)

    def set_servers(self, servers: Iterable[tuple[str, str, int, int]]) -> None:
        """(name, state, usable bytes, used bytes) for every known server."""
        self.servers.clear()
        self.server_memory.clear()
        tally: Tally[str] = Tally()
        for name, state, usable, used in servers:
            tally[state] += 1
            self.server_memory.labels(name, "capacity").set(usable)
            self.server_memory.labels(name, "used").set(used)
            self.server_memory.labels(name, "free").set(max(0, usable - used))
        for state, n in tally.items():
            self.servers.labels(state).set(n)
