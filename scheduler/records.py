"""The scheduler's stored records: desired state (models, versions) and observed state (servers,
replicas), each a frozen dataclass that round-trips through `scheduler.store.codec`.

Why these four: a restarted scheduler must rebuild everything it knew from the store alone
(plus the agents' re-registration), so every fact a decision depends on is one of these. Model
state (`ModelAvailable`, ...) is deliberately *not* stored: it is derived from the replicas
(`scheduler.model_status`), so it cannot drift from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from loadmaster.model_state import ServerState
from loadmaster.replica_state import ReplicaState
from loadmaster.resources import ModelSpec
from scheduler.placement import GpuDevice, ModelKey, PlacedReplica


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A model as the user last asked for it. `seq` orders models by their first load, so when
    capacity is scarce the model that came first keeps it; `deleting` marks an unload in
    progress (the record goes once its last replica is unloaded)."""

    RECORD_KIND: ClassVar[str] = "Model"

    spec: ModelSpec
    version: int
    seq: int
    deleting: bool = False

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """The spec one version was made from; `failed_reason` is set when a replica of it failed
    to load, which stops further placement of that version until the spec changes."""

    RECORD_KIND: ClassVar[str] = "ModelVersion"

    spec: ModelSpec
    version: int
    failed_reason: str = ""


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """A server as it registered, and its state."""

    RECORD_KIND: ClassVar[str] = "Server"

    name: str
    memory_bytes: int
    http_endpoint: str = ""
    grpc_endpoint: str = ""
    pool: str = ""
    overcommit_percent: int = 0
    parallel_workers: int = 1
    capabilities: frozenset[str] = frozenset()
    gpus: tuple[GpuDevice, ...] = ()
    state: ServerState = ServerState.READY

    @property
    def usable_memory_bytes(self) -> int:
        return self.memory_bytes * (100 + self.overcommit_percent) // 100


@dataclass(frozen=True, slots=True)
class ReplicaRecord:
    """One replica of one model version on one server, with what it costs that server.

    The cost is fixed when the replica is placed (see `PlacedReplica`), so free memory is
    arithmetic over these records.
    """

    RECORD_KIND: ClassVar[str] = "Replica"

    model: str
    version: int
    server: str
    state: ReplicaState
    memory_bytes: int
    reason: str = ""
    gpu: int | None = None
    gpu_memory_bytes: int = 0
    workers: int = 1

    @property
    def id(self) -> ReplicaId:
        return ReplicaId(self.model, self.version, self.server)

    def placed(self, version: int | None = None) -> PlacedReplica:
        """As placement sees it; `version` lets a leaving replica be accounted apart."""
        key = ModelKey(self.model, self.version if version is None else version)
        return PlacedReplica(key, self.memory_bytes, self.gpu, self.gpu_memory_bytes, self.workers)


@dataclass(frozen=True, slots=True, order=True)
class ReplicaId:
    model: str
    version: int
    server: str
