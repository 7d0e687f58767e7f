"""What `loadmaster up` was asked for, frozen once the flags are parsed."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from loadmaster.local_cluster.ports import ClusterPorts

GiB = 1024**3
AGENT_CAPABILITIES = ("torch", "python", "huggingface")


class KafkaMode(StrEnum):
    """`local`: run the bundled broker; `external`: use `--kafka-bootstrap`; `none`: no Kafka."""

    LOCAL = "local"
    EXTERNAL = "external"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class UpOptions:
    """`data_dir` and `cwd` are absolute; the parts run in `cwd`, so relative `file://./...`
    storage URIs in model specs mean the directory `up` was started from.

    `start_timeout_s` bounds each start phase (a part not healthy by then fails the start);
    `stop_grace_s` is how long a part has after SIGTERM before SIGKILL."""

    data_dir: Path
    cwd: Path
    agents: int = 1
    pipeline_workers: int = 1  # started only when the cluster has Kafka
    agent_memory_bytes: int = 2 * GiB
    kafka: KafkaMode = KafkaMode.LOCAL
    kafka_bootstrap: str = ""
    ports: ClusterPorts = field(default_factory=ClusterPorts)
    detach: bool = False
    start_timeout_s: float = 60.0
    stop_grace_s: float = 15.0
    log_level: str = "info"

    def __post_init__(self) -> None:
        if self.agents < 1:
            raise ValueError(f"a cluster needs at least 1 agent, got {self.agents}")
        if self.pipeline_workers < 0:
            raise ValueError(f"pipeline workers cannot be negative, got {self.pipeline_workers}")
        if self.agent_memory_bytes < 1:
            raise ValueError("agent memory must be positive")
        if (self.kafka is KafkaMode.EXTERNAL) != bool(self.kafka_bootstrap):
            raise ValueError("a Kafka bootstrap address goes with, and only with, external Kafka")
        if not self.data_dir.is_absolute() or not self.cwd.is_absolute():
            raise ValueError("data_dir and cwd must be absolute paths")

    @property
    def kafka_address(self) -> str:
        """The bootstrap address clients use, "" when the cluster has no Kafka."""
        if self.kafka is KafkaMode.LOCAL:
            return f"127.0.0.1:{self.ports.kafka}"
        return self.kafka_bootstrap

    @property
    def worker_count(self) -> int:
        """The pipeline workers to run: none without Kafka, since they have nothing to read."""
        return self.pipeline_workers if self.kafka_address else 0
