"""Prometheus metrics of the gateway, on a registry passed in (never the global one).

`model` is a label only for models in the route table: names from unknown requests are
counted under `UNKNOWN_MODEL`, so a client cannot grow the label set without bound.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

UNKNOWN_MODEL = "(unknown)"
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
ERROR_KINDS = ("unreachable", "not_ready", "not_found", "broken", "timeout")


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "loadmaster_gateway_requests",
            "Inference requests by model and the HTTP status answered.",
            ["model", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "loadmaster_gateway_request_seconds",
            "Inference latency through the gateway, first byte read to response built.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "loadmaster_gateway_upstream_errors",
            f"Failed attempts on a replica, by kind ({', '.join(ERROR_KINDS)}).",
            ["model", "kind"],
            registry=registry,
        )
        self.retries = Counter(
            "loadmaster_gateway_retries",
            "Requests sent to a second replica after the first failed before reaching a model.",
            ["model"],
            registry=registry,
        )
