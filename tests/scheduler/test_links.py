"""scheduler.links: protobuf <-> plain records at the agent edge, and the per-agent outboxes."""

from __future__ import annotations

import asyncio

import pytest

from loadmaster.generated.agentapi.v1 import agent_pb2 as pb
from loadmaster.replica_state import ReplicaState
from scheduler.links import AgentLinks, BadAgentMessage, order_message, registration, replica_event
from scheduler.orders import (
    DrainAck,
    HeldReplica,
    LoadOrder,
    Registration,
    ReplicaEvent,
    UnloadOrder,
)
from scheduler.placement import GpuDevice
from tests.scheduler.fakes import Gi

S = ReplicaState


def drain(queue: asyncio.Queue[pb.SchedulerMessage | None]) -> list[pb.SchedulerMessage | None]:
    out: list[pb.SchedulerMessage | None] = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


# ---- registration ---------------------------------------------------------------------------


def test_registration_carries_every_field() -> None:
    message = pb.Register(
        server="a",
        pool="gpu-pool",
        http_endpoint="http://a:9000",
        grpc_endpoint="a:9500",
        memory_bytes=8 * Gi,
        overcommit_percent=20,
        parallel_workers=4,
        capabilities=["torch", "cuda", "torch"],
        gpus=[pb.GpuCapacity(index=1, memory_bytes=24 * Gi), pb.GpuCapacity(index=0)],
        held=[
            pb.HeldReplica(model="iris", version=2, state="Available", digest="sha256:x"),
            pb.HeldReplica(model="mnist", version=1, state="Loading"),
        ],
    )
    assert registration(message) == Registration(
        server="a",
        memory_bytes=8 * Gi,
        http_endpoint="http://a:9000",
        grpc_endpoint="a:9500",
        pool="gpu-pool",
        overcommit_percent=20,
        parallel_workers=4,
        capabilities=frozenset({"torch", "cuda"}),
        gpus=(GpuDevice(1, 24 * Gi), GpuDevice(0, 0)),
        held=(HeldReplica("iris", 2, S.AVAILABLE), HeldReplica("mnist", 1, S.LOADING)),
    )


def test_registration_defaults_to_one_worker() -> None:
    assert registration(pb.Register(server="a")) == Registration("a", 0, parallel_workers=1)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (pb.Register(memory_bytes=Gi), "Register.server must name the server"),
        (
            pb.Register(server="a", held=[pb.HeldReplica(model="m", version=1, state="Bogus")]),
            "held replica m:v1: unknown replica state 'Bogus' (known: LoadRequested, Loading, "
            "Available, LoadFailed, UnloadRequested, Unloading, Unloaded, UnloadFailed, Draining, "
            "Evicted, Lost)",
        ),
        (
            pb.Register(server="a", held=[pb.HeldReplica(model="m", version=1, state="")]),
            "held replica m:v1: unknown replica state ''",
        ),
        (
            pb.Register(server="a", held=[pb.HeldReplica(model="", version=1, state="Available")]),
            "held replica '':v1 needs a model and a version",
        ),
        (
            pb.Register(server="a", held=[pb.HeldReplica(model="m", state="Available")]),
            "held replica 'm':v0 needs a model and a version",
        ),
        (
            pb.Register(server="a", gpus=[pb.GpuCapacity(index=0), pb.GpuCapacity(index=0)]),
            "Register.gpus: GPU indices must be unique",
        ),
    ],
    ids=["no server", "unknown state", "empty state", "no model", "version 0", "duplicate gpus"],
)
def test_registration_rejects(message: pb.Register, error: str) -> None:
    with pytest.raises(BadAgentMessage) as caught:
        registration(message)
    assert str(caught.value).startswith(error)


# ---- replica events ---------------------------------------------------------------------------


def test_replica_event() -> None:
    message = pb.ReplicaEvent(model="m", version=3, state="LoadFailed", reason="oom", order_id=7)
    assert replica_event(message) == ReplicaEvent("m", 3, S.LOAD_FAILED, "oom")


@pytest.mark.parametrize("state", list(ReplicaState))
def test_replica_event_knows_every_state(state: ReplicaState) -> None:
    assert replica_event(pb.ReplicaEvent(model="m", version=1, state=state.value)).state is state


def test_replica_event_rejects_an_unknown_state() -> None:
    with pytest.raises(BadAgentMessage, match=r"^event for m:v2: unknown replica state 'ready'"):
        replica_event(pb.ReplicaEvent(model="m", version=2, state="ready"))


# ---- orders -----------------------------------------------------------------------------------


def test_load_order_message() -> None:
    order = LoadOrder(5, "m", 2, "s3://b/m", (("a", "1"), ("b", "x")), gpu=1)
    message = order_message(order)
    assert message.WhichOneof("message") == "load"
    assert message.load == pb.LoadOrder(
        order_id=5,
        model="m",
        version=2,
        storage_uri="s3://b/m",
        parameters={"a": "1", "b": "x"},
        gpu_index=1,
    )


def test_load_order_without_gpu_says_minus_one() -> None:
    message = order_message(LoadOrder(1, "m", 1, "file:///m"))
    assert message.load.gpu_index == -1
    assert dict(message.load.parameters) == {}
    assert order_message(LoadOrder(1, "m", 1, "file:///m", gpu=0)).load.gpu_index == 0


def test_unload_order_message() -> None:
    message = order_message(UnloadOrder(9, "m", 4))
    assert message.WhichOneof("message") == "unload"
    assert message.unload == pb.UnloadOrder(order_id=9, model="m", version=4)


def test_drain_ack_message() -> None:
    message = order_message(DrainAck(("m1", "m2")))
    assert message.WhichOneof("message") == "drain"
    assert list(message.drain.pending_models) == ["m1", "m2"]
    empty = order_message(DrainAck(()))
    assert empty.WhichOneof("message") == "drain"
    assert list(empty.drain.pending_models) == []


# ---- AgentLinks -------------------------------------------------------------------------------


def test_send_reaches_only_a_connected_server() -> None:
    links = AgentLinks()
    assert not links.connected("a")
    assert links.send("a", UnloadOrder(1, "m", 1)) is False
    session = links.attach("a")
    assert links.connected("a") and session.server == "a"
    assert links.send("a", UnloadOrder(2, "m", 1)) is True
    assert links.send("b", UnloadOrder(3, "m", 1)) is False
    assert drain(session.outbox) == [order_message(UnloadOrder(2, "m", 1))]


def test_a_second_attach_closes_the_first_session() -> None:
    links = AgentLinks()
    first = links.attach("a")
    links.send("a", UnloadOrder(1, "m", 1))
    second = links.attach("a")
    links.send("a", UnloadOrder(2, "m", 1))
    assert drain(first.outbox) == [order_message(UnloadOrder(1, "m", 1)), None]
    assert drain(second.outbox) == [order_message(UnloadOrder(2, "m", 1))]
    # The old stream's handler detaching late must not cut off the new one.
    links.detach(first)
    assert links.connected("a")
    links.detach(second)
    assert not links.connected("a")
    assert drain(second.outbox) == []  # a detach is the stream ending itself: nothing queued


def test_disconnect_closes_and_forgets_the_session() -> None:
    links = AgentLinks()
    session = links.attach("a")
    other = links.attach("b")
    links.disconnect("a")
    assert not links.connected("a") and links.connected("b")
    assert drain(session.outbox) == [None]
    assert links.send("a", UnloadOrder(1, "m", 1)) is False
    links.disconnect("a")  # again: nothing left to close
    links.disconnect("never")
    assert drain(session.outbox) == []
    assert drain(other.outbox) == []
