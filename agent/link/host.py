"""What the scheduler link needs from the agent: a model host, and what to register with.

The link depends on this small Protocol rather than on `DataPlane`, so its tests drive it with
a fake host and a fake scheduler and need no worker processes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.config import AgentConfig
from agent.gpus import Gpu
from agent.models import ModelVersion, VersionInfo, VersionListener
from loadmaster.generated.agentapi.v1 import agent_pb2 as pb
from loadmaster.oip.types import TensorSpec
from loadmaster.replica_state import ReplicaState

_SCHEDULER_VERSION = re.compile(r"[1-9][0-9]{0,18}")  # a positive integer that fits uint64
REPORTED_STATES = frozenset({ReplicaState.LOADING, ReplicaState.AVAILABLE})


class ModelHost(Protocol):
    """The part of `DataPlane` the link drives."""

    def held(self) -> list[VersionInfo]: ...

    def add_listener(self, listener: VersionListener) -> None: ...

    async def load(
        self, name: str, storage_uri: str | None = None, version: str | None = None
    ) -> ModelVersion: ...

    async def unload_version(self, name: str, version: str) -> bool: ...


def scheduler_version(version: str) -> int | None:
    """The scheduler's integer version for a data-plane version string, if it is one."""
    return int(version) if _SCHEDULER_VERSION.fullmatch(version) else None


def tensor_signatures(specs: Sequence[TensorSpec]) -> list[pb.TensorSignature]:
    """A version's declared inputs or outputs as the scheduler hears them: it checks pipeline
    tensor references against these."""
    return [
        pb.TensorSignature(name=s.name, datatype=str(s.datatype), shape=list(s.shape))
        for s in specs
    ]


@dataclass(frozen=True, slots=True)
class Registration:
    """The fixed part of a `Register`: who this server is and what it can take."""

    server: str
    pool: str
    http_endpoint: str
    grpc_endpoint: str
    memory_bytes: int
    overcommit_percent: int
    parallel_workers: int
    capabilities: frozenset[str]
    gpus: tuple[Gpu, ...] = ()

    @classmethod
    def from_config(cls, config: AgentConfig, gpus: Iterable[Gpu] = ()) -> Registration:
        host = config.advertised_host
        return cls(
            server=config.name,
            pool=config.pool,
            http_endpoint=f"{host}:{config.http_port}",
            grpc_endpoint=f"{host}:{config.grpc_port}",
            memory_bytes=config.memory_bytes,
            overcommit_percent=config.overcommit_percent,
            parallel_workers=config.parallel_workers,
            capabilities=config.capabilities,
            gpus=tuple(gpus),
        )

    def message(self, held: Iterable[VersionInfo]) -> pb.AgentMessage:
        """The first message of a stream: this server plus every Loading or Available version
        it holds, so the scheduler reconciles instead of reloading."""
        replicas = []
        for info in held:
            number = scheduler_version(info.version)
            if number is not None and info.state in REPORTED_STATES:
                available = info.state is ReplicaState.AVAILABLE
                replicas.append(
                    pb.HeldReplica(
                        model=info.name,
                        version=number,
                        state=str(info.state),
                        digest=info.digest,
                        inputs=tensor_signatures(info.inputs if available else ()),
                        outputs=tensor_signatures(info.outputs if available else ()),
                    )
                )
        register = pb.Register(
            server=self.server,
            pool=self.pool,
            http_endpoint=self.http_endpoint,
            grpc_endpoint=self.grpc_endpoint,
            memory_bytes=self.memory_bytes,
            overcommit_percent=self.overcommit_percent,
            parallel_workers=self.parallel_workers,
            capabilities=sorted(self.capabilities),
            gpus=[pb.GpuCapacity(index=g.index, memory_bytes=g.memory_bytes) for g in self.gpus],
            held=sorted(replicas, key=lambda r: (r.model, r.version)),
        )
        return pb.AgentMessage(register=register)
