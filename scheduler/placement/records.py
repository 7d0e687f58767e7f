"""The records placement reads and writes: what a server has, what a model needs, what was decided.

All are frozen so a decision can be logged, compared and stored as it was made. Sizes are bytes
(`loadmaster.units.parse_memory` turns `200Mi` into bytes at the resource boundary); costs
recorded on a placed replica are totals, already multiplied by the replica's workers, so the
free capacity of a server is arithmetic over its records with no model lookups.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True, order=True)
class ModelKey:
    """One version of one model: the unit that anti-affinity and scheduling status are about."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}:v{self.version}"


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One accelerator of a server; `memory_bytes` is its total memory."""

    index: int
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class PlacedReplica:
    """A replica as it costs a server: total memory and, when it uses one, a GPU device's share.

    Costs are totals over the replica's `workers`, fixed when it was placed, so a later change
    to the server's parallel_workers does not silently re-price replicas already loaded.
    """

    model: ModelKey
    memory_bytes: int
    gpu: int | None = None
    gpu_memory_bytes: int = 0
    workers: int = 1


@dataclass(frozen=True, slots=True)
class ServerSnapshot:
    """What the scheduler knows of one server at the start of a reconcile pass.

    `overcommit_percent` lets an operator admit more than the physical memory (models rarely
    touch all their pages); usable memory is `memory_bytes * (1 + overcommit_percent / 100)`.
    `cached_models` names models whose artifacts the agent reports on local disk, which makes
    the server a cheap place to load another replica or version.
    """

    name: str
    memory_bytes: int
    pool: str = ""
    capabilities: frozenset[str] = frozenset()
    overcommit_percent: int = 0
    parallel_workers: int = 1
    gpus: tuple[GpuDevice, ...] = ()
    draining: bool = False
    replicas: tuple[PlacedReplica, ...] = ()
    cached_models: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.memory_bytes < 0 or self.overcommit_percent < 0:
            raise ValueError(f"server {self.name}: memory and overcommit must not be negative")
        if self.parallel_workers < 1:
            raise ValueError(f"server {self.name}: parallel_workers must be at least 1")
        devices = {g.index for g in self.gpus}
        if len(devices) != len(self.gpus):
            raise ValueError(f"server {self.name}: GPU indices must be unique")
        for replica in self.replicas:
            if replica.gpu is not None and replica.gpu not in devices:
                raise ValueError(
                    f"server {self.name}: {replica.model} is on unknown gpu {replica.gpu}"
                )

    @property
    def usable_memory_bytes(self) -> int:
        return self.memory_bytes * (100 + self.overcommit_percent) // 100


@dataclass(frozen=True, slots=True)
class ModelDemand:
    """What one model version asks of the fleet.

    `memory_bytes` and `gpu_memory_bytes` are per instance; a replica runs one instance per
    worker, so its cost is that times `instance_count` when the model sets it, else times the
    server's `parallel_workers`. `gpu_memory_bytes == 0` means the model needs no GPU.
    `server` pins the model to one server pool, as `spec.server` does in Seldon Core v2.
    """

    name: str
    version: int
    memory_bytes: int
    replicas: int = 1
    min_replicas: int = 0
    gpu_memory_bytes: int = 0
    requirements: frozenset[str] = frozenset()
    server: str | None = None
    instance_count: int | None = None

    def __post_init__(self) -> None:
        if self.memory_bytes < 0 or self.gpu_memory_bytes < 0:
            raise ValueError(f"model {self.name}: memory must not be negative")
        if not 0 <= self.min_replicas <= self.replicas:
            raise ValueError(
                f"model {self.name}: need 0 <= minReplicas ({self.min_replicas}) "
                f"<= replicas ({self.replicas})"
            )
        if self.instance_count is not None and self.instance_count < 1:
            raise ValueError(f"model {self.name}: instance count must be at least 1")

    @property
    def key(self) -> ModelKey:
        return ModelKey(self.name, self.version)


class Scheduling(StrEnum):
    """Brief §3: how much of the desired replica count the fleet could take."""

    FULL = "Full"
    PARTIAL = "Partial"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class ReplicaPlacement:
    """A replica on a named server: an order to load, one to keep, or one to unload."""

    server: str
    replica: PlacedReplica


@dataclass(frozen=True, slots=True)
class PlacementDecision:
    """The outcome of one `place` call for one model version.

    `keep` are replicas already on servers that stay; `add` are new ones to load; `remove` are
    existing ones to unload (scale-down, a draining server, or a server that no longer passes the
    model's requirements or pin). The reconcile loop unloads a removal only once the additions
    that replace it are available, as in a rolling update (brief §5).
    """

    model: ModelKey
    scheduling: Scheduling
    reason: str = ""
    keep: tuple[ReplicaPlacement, ...] = ()
    add: tuple[ReplicaPlacement, ...] = ()
    remove: tuple[ReplicaPlacement, ...] = ()

    @property
    def placed(self) -> int:
        return len(self.keep) + len(self.add)

    @property
    def servers(self) -> tuple[str, ...]:
        """Servers that hold a replica once the decision is carried out."""
        return tuple(p.server for p in (*self.keep, *self.add))
