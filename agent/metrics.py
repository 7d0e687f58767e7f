"""Prometheus metrics of the agent's data plane, on a registry passed in (never the global one)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip
LOAD_PHASES = ("download", "deserialize", "to_device", "warmup")


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "loadmaster_agent_requests",
            "Inference requests by model and outcome (ok or the error kind).",
            ["model", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "loadmaster_agent_request_seconds",
            "Inference latency inside the agent, decode to encode.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "loadmaster_agent_in_flight",
            "Inference requests being served, by model.",
            ["model"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "loadmaster_agent_queue_depth",
            "Requests waiting in the adaptive batcher, by model.",
            ["model"],
            registry=registry,
        )
        self.load_seconds = Gauge(
            "loadmaster_agent_model_load_seconds",
            "Seconds the last load of a model took, by phase.",
            ["model", "phase"],
            registry=registry,
        )
        self.memory_bytes = Gauge(
            "loadmaster_agent_model_memory_bytes",
            "Measured memory of one copy of a model: host RSS growth per worker, CUDA allocated.",
            ["model", "kind"],
            registry=registry,
        )
        self.worker_restarts = Counter(
            "loadmaster_agent_worker_restarts",
            "Worker processes restarted after dying.",
            registry=registry,
        )

    def forget_model(self, model: str) -> None:
        """Drop a model's gauges once it is unloaded, so dashboards do not show ghosts."""
        for gauge in (self.in_flight, self.queue_depth):
            with contextlib.suppress(KeyError):
                gauge.remove(model)
        for phase in LOAD_PHASES:
            with contextlib.suppress(KeyError):
                self.load_seconds.remove(model, phase)
        for kind in ("rss", "cuda"):
            with contextlib.suppress(KeyError):
                self.memory_bytes.remove(model, kind)
