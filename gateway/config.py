"""The gateway's settings: one frozen record, built by the CLI and read by every module."""

from __future__ import annotations

from dataclasses import dataclass

from loadmaster.kafka.config import KafkaConfig

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Where the gateway listens and follows routes, and the bounds it puts on each request.

    `upstream_timeout_s` is the deadline of a request that brings none of its own
    (`x-request-timeout-ms`); `traffic_report_interval_s` is how often experiment counts
    go to the scheduler; `connections_per_endpoint` caps the pooled keep-alive
    connections to one agent, so a burst queues in the gateway instead of swamping it.
    `kafka` turns the pipeline front on (None: pipeline requests answer 503);
    `pipeline_timeout_s` bounds a pipeline request that brings no shorter deadline.
    """

    name: str = "gateway"
    scheduler: str = "127.0.0.1:9004"
    host: str = "127.0.0.1"
    http_port: int = 9000
    grpc_port: int = 9500
    max_body_bytes: int = 64 * MiB
    upstream_timeout_s: float = 60.0
    connections_per_endpoint: int = 64
    traffic_report_interval_s: float = 1.0
    kafka: KafkaConfig | None = None
    pipeline_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("the gateway needs a name")
        for field, port in (("http_port", self.http_port), ("grpc_port", self.grpc_port)):
            if not 0 <= port <= 65535:
                raise ValueError(f"{field} must be 0 to 65535, got {port}")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {self.max_body_bytes}")
        if not 0 < self.upstream_timeout_s < float("inf"):
            raise ValueError(f"upstream_timeout_s must be positive, got {self.upstream_timeout_s}")
        if not 0 < self.traffic_report_interval_s < float("inf"):
            raise ValueError(
                f"traffic_report_interval_s must be positive, got {self.traffic_report_interval_s}"
            )
        if not 0 < self.pipeline_timeout_s < float("inf"):
            raise ValueError(f"pipeline_timeout_s must be positive, got {self.pipeline_timeout_s}")
        if self.connections_per_endpoint < 1:
            raise ValueError(
                f"connections_per_endpoint must be at least 1, got {self.connections_per_endpoint}"
            )
