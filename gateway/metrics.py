"""Prometheus metrics of the gateway, on a registry passed in (never the global one).

Every inference is counted, so the labelled children it counts into are kept in dicts by
their labels: `labels()` validates and joins its arguments on every call, which showed in
the gateway's profile.

`model` is a label only for models in the route table: names from unknown requests are
counted under `UNKNOWN_MODEL`, so a client cannot grow the label set without bound.
`protocol` is "rest" or "grpc"; `code` is the HTTP status (REST) or the gRPC status name.
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
            "Inference requests by model, protocol and the status answered.",
            ["model", "protocol", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "loadmaster_gateway_request_seconds",
            "Unary inference latency through the gateway, request read to response built.",
            ["model", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "loadmaster_gateway_upstream_errors",
            f"Failed attempts on a replica, by kind ({', '.join(ERROR_KINDS)}).",
            ["model", "protocol", "kind"],
            registry=registry,
        )
        self.retries = Counter(
            "loadmaster_gateway_retries",
            "Requests sent to a second replica after the first failed before reaching a model.",
            ["model", "protocol"],
            registry=registry,
        )

        self.experiment_requests = Counter(
            "loadmaster_gateway_experiment_requests",
            "Requests an experiment sent to each candidate, by the status answered.",
            ["experiment", "candidate", "protocol", "code"],
            registry=registry,
        )
        self.experiment_latency = Histogram(
            "loadmaster_gateway_experiment_request_seconds",
            "Unary latency of the requests an experiment sent to each candidate.",
            ["experiment", "candidate", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.mirrored = Counter(
            "loadmaster_gateway_mirrored_requests",
            "Copies sent to an experiment's mirror, by outcome (sent, failed, dropped, cancelled).",
            ["experiment", "model", "outcome"],
            registry=registry,
        )
        self._answered: dict[tuple[str, str, str], Counter] = {}
        self._timed: dict[tuple[str, str], Histogram] = {}

    def answered(self, model: str, protocol: str, code: str, seconds: float | None) -> None:
        """Count one request; `seconds` is None for streams, whose length is the client's."""
        counter = self._answered.get((model, protocol, code))
        if counter is None:
            counter = self._answered[model, protocol, code] = self.requests.labels(
                model, protocol, code
            )
        counter.inc()
        if seconds is not None:
            histogram = self._timed.get((model, protocol))
            if histogram is None:
                histogram = self._timed[model, protocol] = self.latency.labels(model, protocol)
            histogram.observe(seconds)

    def experiment_answered(
        self, experiment: str, candidate: str, protocol: str, code: str, seconds: float | None
    ) -> None:
        """Count one request an experiment routed, by its candidate; streams are not timed."""
        self.experiment_requests.labels(experiment, candidate, protocol, code).inc()
        if seconds is not None:
            self.experiment_latency.labels(experiment, candidate, protocol).observe(seconds)
