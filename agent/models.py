"""The agent's model versions: one immutable record per loaded (or loading) version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from agent.batching import AdaptiveBatcher
from agent.workers.messages import Loaded
from loadmaster.oip.types import ModelMetadata, Parameters, TensorSpec
from loadmaster.replica_state import ReplicaState, ReplicaStatus


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """What the outside (the scheduler link) learns about one version: a plain snapshot, so it
    never reaches into serving machinery and a fake host can build one in a line."""

    name: str
    version: str
    state: ReplicaState
    reason: str = ""
    digest: str = ""
    rss_bytes: int = 0
    cuda_bytes: int = 0
    inputs: tuple[TensorSpec, ...] = ()  # the declared signature, once loaded
    outputs: tuple[TensorSpec, ...] = ()


# Told of every stored state change of a version, including the final Unloaded on removal.
VersionListener = Callable[[VersionInfo], None]


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: str
    storage_uri: str
    status: ReplicaStatus
    digest: str = ""
    loaded: Loaded | None = None
    download_s: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def state(self) -> ReplicaState:
        return self.status.state

    def advance(self, state: ReplicaState, reason: str = "") -> ModelVersion:
        return replace(self, status=self.status.advance(state, reason))

    def info(self, state: ReplicaState | None = None) -> VersionInfo:
        """A snapshot; `state` overrides the record's (the Unloaded of a removed version has no
        record left to carry it)."""
        loaded = self.loaded
        return VersionInfo(
            self.name,
            self.version,
            state or self.state,
            self.status.reason if state is None else "",
            self.digest,
            loaded.rss_bytes if loaded else 0,
            loaded.cuda_bytes if loaded else 0,
            loaded.inputs if loaded else (),
            loaded.outputs if loaded else (),
        )

    def metadata(self, versions: tuple[str, ...]) -> ModelMetadata:
        loaded = self.loaded
        if loaded is None:
            return ModelMetadata(self.name, versions, "", (), ())
        parameters: Parameters = {
            "device": loaded.device,
            "memory_rss_bytes": loaded.rss_bytes,
            "memory_cuda_bytes": loaded.cuda_bytes,
            "load_download_seconds": round(self.download_s, 6),
            "load_deserialize_seconds": round(loaded.deserialize_s, 6),
            "load_to_device_seconds": round(loaded.to_device_s, 6),
            "load_warmup_seconds": round(loaded.warmup_s, 6),
            "max_batch_size": loaded.max_batch_size,
            "max_batch_time_ms": loaded.max_batch_time_ms,
            "artifact_digest": self.digest,
        }
        return ModelMetadata(
            self.name, versions, loaded.platform, loaded.inputs, loaded.outputs, parameters
        )


@dataclass(slots=True)
class ServingHandle:
    """Mutable per-version serving machinery that must not live in the frozen record."""

    batcher: AdaptiveBatcher | None = None
