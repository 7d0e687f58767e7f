"""What the scheduler tells agents, and what agents tell it, as plain records.

The reconcile core speaks these records; `scheduler.links` turns them into and out of the
`loadmaster.agent.v1` protobuf messages. Keeping protobuf at the edge lets the core be tested
with plain values and a fake `OrderSink`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from loadmaster.replica_state import ReplicaState
from scheduler.model_signatures import ModelSignature
from scheduler.placement import GpuDevice


@dataclass(frozen=True, slots=True)
class LoadOrder:
    order_id: int
    model: str
    version: int
    storage_uri: str
    parameters: tuple[tuple[str, str], ...] = ()
    gpu: int | None = None


@dataclass(frozen=True, slots=True)
class UnloadOrder:
    order_id: int
    model: str
    version: int


@dataclass(frozen=True, slots=True)
class DrainAck:
    pending_models: tuple[str, ...]


Order = LoadOrder | UnloadOrder | DrainAck


@dataclass(frozen=True, slots=True)
class HeldReplica:
    model: str
    version: int
    state: ReplicaState
    signature: ModelSignature | None = None  # what an Available replica declared


@dataclass(frozen=True, slots=True)
class Registration:
    """An agent's Register message: its capacity and the replicas it already holds."""

    server: str
    memory_bytes: int
    http_endpoint: str = ""
    grpc_endpoint: str = ""
    pool: str = ""
    overcommit_percent: int = 0
    parallel_workers: int = 1
    capabilities: frozenset[str] = frozenset()
    gpus: tuple[GpuDevice, ...] = ()
    held: tuple[HeldReplica, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplicaEvent:
    model: str
    version: int
    state: ReplicaState
    reason: str = ""
    signature: ModelSignature | None = None  # what an Available replica declared


class OrderSink(Protocol):
    """Where orders go: the connected agents' streams (or a list, in unit tests)."""

    def connected(self, server: str) -> bool: ...

    def send(self, server: str, order: Order) -> bool:
        """Queue `order` for `server`; False when it is not connected (the order is not kept)."""
        ...

    def disconnect(self, server: str) -> None:
        """End the server's stream, so the agent reconnects and registers afresh."""
        ...
