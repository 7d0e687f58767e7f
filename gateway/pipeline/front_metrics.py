"""Prometheus metrics of the pipeline gateway, on the gateway's registry (never the global one).

A pipeline request spends its time in two places worth telling apart: waiting for the broker to
acknowledge the request record (`produce_seconds`), and the whole round trip through the
workers (`request_seconds`). Answers the gateway reads and throws away are counted by why:
`duplicate` (an answer for a request already answered: at-least-once delivery), `late` (the
request already gave up: deadline or a client that left), `bad` (a record without the pipeline
headers). `pipeline` is a label only for pipelines in the route table; other names are counted
under `UNKNOWN_PIPELINE`, so a client cannot grow the label set.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.metrics import LATENCY_BUCKETS

UNKNOWN_PIPELINE = "(unknown)"
IGNORED_REASONS = ("duplicate", "late", "bad")


class PipelineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "loadmaster_gateway_pipeline_requests",
            "Pipeline inference requests by pipeline, protocol and the status answered.",
            ["pipeline", "protocol", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "loadmaster_gateway_pipeline_request_seconds",
            "Pipeline inference latency through the gateway, request read to answer built.",
            ["pipeline", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.produce = Histogram(
            "loadmaster_gateway_pipeline_produce_seconds",
            "Time from producing a pipeline request to the broker's acknowledgement.",
            ["pipeline"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.ignored = Counter(
            "loadmaster_gateway_pipeline_answers_ignored",
            f"Answers read and not used, by reason ({', '.join(IGNORED_REASONS)}).",
            ["reason"],
            registry=registry,
        )

    def answered(self, pipeline: str, protocol: str, code: str, seconds: float) -> None:
        self.requests.labels(pipeline, protocol, code).inc()
        self.latency.labels(pipeline, protocol).observe(seconds)

    def produced(self, pipeline: str, seconds: float) -> None:
        self.produce.labels(pipeline).observe(seconds)

    def ignore(self, reason: str) -> None:
        self.ignored.labels(reason).inc()
