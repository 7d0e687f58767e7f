"""KafkaConfig: where the broker is and how pipelines use it, shared by gateways and workers.

Every latency-relevant client setting is explicit here rather than left to library defaults
(brief §6): a producer that lingers 5 ms or a consumer that waits 500 ms for a fetch to fill
would each add more than a step's whole budget. Defaults suit a local broker.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_PREFIX = "loadmaster"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    bootstrap: str = DEFAULT_BOOTSTRAP  # HOST:PORT[,HOST:PORT...]
    prefix: str = DEFAULT_PREFIX
    namespace: str = DEFAULT_NAMESPACE
    partitions: int = 4  # per topic, at creation
    replication_factor: int = 1
    linger_ms: int = 0  # producer: send at once; batches still form while a send is in flight
    acks: str = "all"  # "all", "1" or "0"
    fetch_max_wait_ms: int = 2  # consumer: the broker answers a fetch after at most this
    fetch_min_bytes: int = 1
    max_poll_records: int = 500
    # A dead group member's partitions move after this; 6 s is Apache Kafka's default floor.
    session_timeout_ms: int = 6_000
    heartbeat_interval_ms: int = 1_000
    request_timeout_ms: int = 15_000
    metadata_max_age_ms: int = 5_000

    @property
    def acks_value(self) -> int | str:
        return "all" if self.acks == "all" else int(self.acks)

    def settings(self) -> dict[str, object]:
        """The client settings as stated in docs and benchmark reports."""
        return {
            "bootstrap": self.bootstrap,
            "partitions": self.partitions,
            "linger_ms": self.linger_ms,
            "acks": self.acks,
            "fetch_max_wait_ms": self.fetch_max_wait_ms,
            "fetch_min_bytes": self.fetch_min_bytes,
            "max_poll_records": self.max_poll_records,
        }
