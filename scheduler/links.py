"""AgentLinks: the connected agents' streams, and the protobuf edge of the agent protocol.

Each connected agent has one outgoing queue; `send` puts an order on it and the agent's
`Connect` handler writes it to the stream. Conversions between `loadmaster.agent.v1` messages
and the core's plain records (`scheduler.orders`) live here and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from loadmaster.generated.agentapi.v1 import agent_pb2 as pb
from loadmaster.replica_state import ReplicaState
from scheduler.model_signatures import ModelSignature, TensorSignature
from scheduler.orders import (
    DrainAck,
    HeldReplica,
    LoadOrder,
    Order,
    Registration,
    ReplicaEvent,
    UnloadOrder,
)
from scheduler.placement import GpuDevice

CLOSE = None  # queued to end a stream from the scheduler's side


@dataclass(eq=False)
class Session:
    server: str
    outbox: asyncio.Queue[pb.SchedulerMessage | None] = field(default_factory=asyncio.Queue)


class AgentLinks:
    """The `OrderSink` the scheduler core sends to; one session per connected server."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def attach(self, server: str) -> Session:
        """A new stream for `server`; an older one (a reconnect the scheduler has not noticed
        yet) is closed so orders never go to two streams."""
        old = self._sessions.get(server)
        if old is not None:
            old.outbox.put_nowait(CLOSE)
        session = Session(server)
        self._sessions[server] = session
        return session

    def detach(self, session: Session) -> None:
        if self._sessions.get(session.server) is session:
            del self._sessions[session.server]

    def connected(self, server: str) -> bool:
        return server in self._sessions

    def send(self, server: str, order: Order) -> bool:
        session = self._sessions.get(server)
        if session is None:
            return False
        session.outbox.put_nowait(order_message(order))
        return True

    def disconnect(self, server: str) -> None:
        session = self._sessions.pop(server, None)
        if session is not None:
            session.outbox.put_nowait(CLOSE)


def order_message(order: Order) -> pb.SchedulerMessage:
    if isinstance(order, LoadOrder):
        return pb.SchedulerMessage(
            load=pb.LoadOrder(
                order_id=order.order_id,
                model=order.model,
                version=order.version,
                storage_uri=order.storage_uri,
                parameters=dict(order.parameters),
                gpu_index=-1 if order.gpu is None else order.gpu,
            )
        )
    if isinstance(order, UnloadOrder):
        return pb.SchedulerMessage(
            unload=pb.UnloadOrder(order_id=order.order_id, model=order.model, version=order.version)
        )
    assert isinstance(order, DrainAck)
    return pb.SchedulerMessage(drain=pb.DrainAck(pending_models=list(order.pending_models)))


class BadAgentMessage(ValueError):
    """A message the protocol does not allow; the stream is ended with this text."""


def registration(message: pb.Register) -> Registration:
    if not message.server:
        raise BadAgentMessage("Register.server must name the server")
    held = []
    for h in message.held:
        state = _state(h.state, f"held replica {h.model}:v{h.version}")
        if not h.model or h.version < 1:
            raise BadAgentMessage(
                f"held replica {h.model!r}:v{h.version} needs a model and a version"
            )
        held.append(HeldReplica(h.model, h.version, state, signature(h.inputs, h.outputs)))
    indices = [g.index for g in message.gpus]
    if len(set(indices)) != len(indices):
        raise BadAgentMessage("Register.gpus: GPU indices must be unique")
    return Registration(
        server=message.server,
        memory_bytes=message.memory_bytes,
        http_endpoint=message.http_endpoint,
        grpc_endpoint=message.grpc_endpoint,
        pool=message.pool,
        overcommit_percent=message.overcommit_percent,
        parallel_workers=max(1, message.parallel_workers),
        capabilities=frozenset(message.capabilities),
        gpus=tuple(GpuDevice(g.index, g.memory_bytes) for g in message.gpus),
        held=tuple(held),
    )


def replica_event(message: pb.ReplicaEvent) -> ReplicaEvent:
    state = _state(message.state, f"event for {message.model}:v{message.version}")
    declared = signature(message.inputs, message.outputs)
    return ReplicaEvent(message.model, message.version, state, message.reason, declared)


def signature(
    inputs: Iterable[pb.TensorSignature], outputs: Iterable[pb.TensorSignature]
) -> ModelSignature | None:
    """None when the agent declared nothing (not Available, or an agent that does not say)."""
    found = ModelSignature(_tensors(inputs), _tensors(outputs))
    return found if found.inputs or found.outputs else None


def _tensors(messages: Iterable[pb.TensorSignature]) -> tuple[TensorSignature, ...]:
    return tuple(TensorSignature(t.name, t.datatype, tuple(t.shape)) for t in messages)


def _state(text: str, what: str) -> ReplicaState:
    try:
        return ReplicaState(text)
    except ValueError:
        known = ", ".join(s.value for s in ReplicaState)
        raise BadAgentMessage(f"{what}: unknown replica state {text!r} (known: {known})") from None
