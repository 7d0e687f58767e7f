"""Prometheus metrics of the pipeline workers, on a registry passed in (never the global one).

Per step: how long the model call took and how often it failed (model workers); per topic:
how long a produce waited for the broker's acknowledgement and how old a record was when it
was consumed (both workers); per group and topic: consumer lag, the records not yet fetched.
`outcome` counts what became of each consumed record (done, duplicate, expired, bad, skipped).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from loadmaster.kafka.bus import TopicPartition

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


class Outcome(StrEnum):
    """What became of one consumed record (the `outcome` label of the records counter), in
    either worker."""

    DONE = "done"  # handled: answered (model worker), joined (dataflow)
    DUPLICATE = "duplicate"  # handled before, or being handled now, from another copy
    EXPIRED = "expired"  # its deadline passed: dropped
    BAD = "bad"  # not a record of a pipeline in the table: dropped
    SKIPPED = "skipped"  # a skip record passed on or joined
    FAILED = "failed"  # an error record went to the errors topic


OUTCOMES = tuple(o.value for o in Outcome)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.step_seconds = Histogram(
            "loadmaster_pipeline_step_seconds",
            "Model call latency of a pipeline step, request sent to answer read.",
            ["pipeline", "step"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.step_errors = Counter(
            "loadmaster_pipeline_step_errors",
            "Failed model calls of a pipeline step, by the status recorded.",
            ["pipeline", "step", "code"],
            registry=registry,
        )
        self.produce_seconds = Histogram(
            "loadmaster_pipeline_produce_seconds",
            "Time from a produce call to the broker's acknowledgement, by topic.",
            ["topic"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.consume_seconds = Histogram(
            "loadmaster_pipeline_consume_seconds",
            "Age of a record when a worker consumed it (now minus the record's timestamp).",
            ["topic"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "loadmaster_pipeline_consumer_lag",
            "Records on the broker not yet fetched by this worker, by group and topic.",
            ["group", "topic"],
            registry=registry,
        )
        self.records = Counter(
            "loadmaster_pipeline_records",
            f"Records a worker consumed, by worker role and outcome ({', '.join(OUTCOMES)}).",
            ["role", "outcome"],
            registry=registry,
        )

    def record_lag(self, group: str, lag: Mapping[TopicPartition, int]) -> None:
        """Set the lag gauge per topic from a consumer's per-partition lag."""
        per_topic: dict[str, int] = {}
        for tp, behind in lag.items():
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(behind, 0)
        for topic, behind in per_topic.items():
            self.consumer_lag.labels(group, topic).set(behind)
