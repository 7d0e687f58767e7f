"""The agent's scheduler link against a fake scheduler on loopback and a fake model host."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable

import pytest

from agent.config import AgentConfig
from agent.gpus import Gpu
from agent.link import (
    DRAIN_TIMED_OUT,
    DRAINED,
    UNREACHABLE,
    Backoff,
    Registration,
    SchedulerLink,
)
from loadmaster.generated.agentapi.v1 import agent_pb2 as pb
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.types import TensorSpec
from loadmaster.replica_state import ReplicaState
from tests.agent.link_fakes import WAIT_S, FakeHost, FakeScheduler, Stream, running

S = ReplicaState
CONFIG = AgentConfig(
    name="gpu-1",
    host="0.0.0.0",
    http_port=9100,
    grpc_port=9600,
    memory_bytes=8 * 2**30,
    capabilities=frozenset({"torch", "python"}),
    parallel_workers=2,
    pool="gpu-pool",
    overcommit_percent=20,
)
REGISTRATION = Registration.from_config(CONFIG, [Gpu(0, 2**34)])
IRIS_SIGNATURE = (
    (TensorSpec("x", DataType.FP32, (-1, 4)),),
    (TensorSpec("y", DataType.INT64, (-1,)), TensorSpec("p", DataType.FP32, (-1, 3))),
)


class Sleeps:
    """Back-off sleep that records each delay and waits only a moment."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.taken: asyncio.Queue[float] = asyncio.Queue()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.taken.put_nowait(delay)
        await asyncio.sleep(0.01)

    async def next(self) -> float:
        return await asyncio.wait_for(self.taken.get(), WAIT_S)


@pytest.fixture
async def scheduler() -> AsyncIterator[FakeScheduler]:
    async with running(FakeScheduler()) as fake:
        yield fake


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


@pytest.fixture
async def link(scheduler: FakeScheduler, host: FakeHost) -> AsyncIterator[SchedulerLink]:
    link = SchedulerLink(scheduler.target, host, REGISTRATION, backoff_sleep=Sleeps())
    link.start()
    yield link
    await link.close(grace_s=0.5)


async def connected(scheduler: FakeScheduler) -> Stream:
    stream = await scheduler.next_stream()
    await stream.next("register")
    return stream


def load(order_id: int, model: str, version: int) -> pb.SchedulerMessage:
    order = pb.LoadOrder(order_id=order_id, model=model, version=version, storage_uri="file:///m")
    return pb.SchedulerMessage(load=order)


def unload(order_id: int, model: str, version: int) -> pb.SchedulerMessage:
    return pb.SchedulerMessage(
        unload=pb.UnloadOrder(order_id=order_id, model=model, version=version)
    )


def brief(events: list[pb.ReplicaEvent]) -> list[tuple[str, int, str, int]]:
    return [(e.model, e.version, e.state, e.order_id) for e in events]


def tensors(signatures: Iterable[pb.TensorSignature]) -> list[tuple[str, str, list[int]]]:
    return [(t.name, t.datatype, list(t.shape)) for t in signatures]


IRIS_INPUTS = [("x", "FP32", [-1, 4])]
IRIS_OUTPUTS = [("y", "INT64", [-1]), ("p", "FP32", [-1, 3])]


# ---- registration and heartbeats -------------------------------------------------------------


async def test_register_describes_the_server_and_what_it_holds(
    scheduler: FakeScheduler, host: FakeHost
) -> None:
    host.hold("iris", "3", S.AVAILABLE, digest="sha256:abc")
    host.hold("bert", "1", S.LOADING)
    host.hold("adhoc", "latest", S.AVAILABLE)  # not a scheduler version: not reported
    host.hold("broken", "2", S.LOAD_FAILED)  # neither Loading nor Available: not reported
    link = SchedulerLink(scheduler.target, host, REGISTRATION)
    link.start()
    try:
        stream = await scheduler.next_stream()
        register = (await stream.next("register")).register
    finally:
        await link.close(grace_s=0.5)
    assert register.server == "gpu-1"
    assert register.pool == "gpu-pool"
    assert register.http_endpoint == "127.0.0.1:9100"  # 0.0.0.0 names no one
    assert register.grpc_endpoint == "127.0.0.1:9600"
    assert register.memory_bytes == 8 * 2**30
    assert register.overcommit_percent == 20
    assert register.parallel_workers == 2
    assert list(register.capabilities) == ["python", "torch"]
    assert [(g.index, g.memory_bytes) for g in register.gpus] == [(0, 2**34)]
    assert [(h.model, h.version, h.state, h.digest) for h in register.held] == [
        ("bert", 1, "Loading", ""),
        ("iris", 3, "Available", "sha256:abc"),
    ]


async def test_register_declares_the_signature_of_available_versions_only(
    scheduler: FakeScheduler, host: FakeHost
) -> None:
    host.hold("iris", "3", S.AVAILABLE, signature=IRIS_SIGNATURE)
    host.hold("bert", "1", S.LOADING, signature=IRIS_SIGNATURE)  # not declared until Available
    link = SchedulerLink(scheduler.target, host, REGISTRATION)
    link.start()
    try:
        stream = await scheduler.next_stream()
        register = (await stream.next("register")).register
    finally:
        await link.close(grace_s=0.5)
    bert, iris = register.held
    assert (tensors(bert.inputs), tensors(bert.outputs)) == ([], [])
    assert (tensors(iris.inputs), tensors(iris.outputs)) == (IRIS_INPUTS, IRIS_OUTPUTS)


def test_an_advertised_host_wins_over_the_listen_host() -> None:
    config = AgentConfig(name="a", host="0.0.0.0", advertise_host="node-7.internal")
    assert Registration.from_config(config).http_endpoint == "node-7.internal:9000"
    assert Registration.from_config(AgentConfig(name="a", host="10.0.0.5")).grpc_endpoint == (
        "10.0.0.5:9500"
    )


async def test_heartbeats_follow_the_registration(
    scheduler: FakeScheduler, link: SchedulerLink
) -> None:
    stream = await connected(scheduler)
    first = await stream.next("heartbeat", skip=())
    second = await stream.next("heartbeat", skip=())
    assert (first.heartbeat.sequence, second.heartbeat.sequence) == (1, 2)
    assert link.connected


# ---- orders ----------------------------------------------------------------------------------


async def test_a_load_order_reports_loading_then_available(
    scheduler: FakeScheduler, host: FakeHost, link: SchedulerLink
) -> None:
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(load(7, "iris", 1))
    loading, available = await stream.events(2)
    assert brief([loading, available]) == [("iris", 1, "Loading", 7), ("iris", 1, "Available", 7)]
    assert available.measured_rss_bytes == 1000
    assert host.versions[("iris", "1")].state is S.AVAILABLE


async def test_an_available_event_declares_the_signature(
    scheduler: FakeScheduler, host: FakeHost, link: SchedulerLink
) -> None:
    host.signatures["iris"] = IRIS_SIGNATURE
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(load(9, "iris", 1))
    loading, available = await stream.events(2)
    assert (tensors(loading.inputs), tensors(loading.outputs)) == ([], [])
    assert (tensors(available.inputs), tensors(available.outputs)) == (IRIS_INPUTS, IRIS_OUTPUTS)
    stream.outgoing.put_nowait(load(10, "iris", 1))  # already Available: answered from `held`
    [again] = await stream.events(1)
    assert (again.order_id, tensors(again.outputs)) == (10, IRIS_OUTPUTS)


async def test_a_load_order_for_an_available_version_answers_at_once(
    scheduler: FakeScheduler, host: FakeHost, link: SchedulerLink
) -> None:
    host.hold("iris", "1", S.AVAILABLE)
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(load(8, "iris", 1))
    assert brief(await stream.events(1)) == [("iris", 1, "Available", 8)]


async def test_a_failed_load_reports_the_reason(
    scheduler: FakeScheduler, host: FakeHost, link: SchedulerLink
) -> None:
    host.failures["iris"] = "no runtime for this directory"
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(load(9, "iris", 1))
    loading, failed = await stream.events(2)
    assert brief([loading, failed]) == [("iris", 1, "Loading", 9), ("iris", 1, "LoadFailed", 9)]
    assert "no runtime for this directory" in failed.reason


async def test_loads_of_different_models_run_side_by_side(
    scheduler: FakeScheduler, host: FakeHost, link: SchedulerLink
) -> None:
    host.gates["slow"] = asyncio.Event()
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(load(1, "slow", 1))
    stream.outgoing.put_nowait(load(2, "fast", 1))
    assert brief(await stream.events(3)) == [
        ("slow", 1, "Loading", 1),
        ("fast", 1, "Loading", 2),
        ("fast", 1, "Available", 2),
    ]
    host.gates["slow"].set()
    assert brief(await stream.events(1)) == [("slow", 1, "Available", 1)]


async def test_an_unload_order_reports_unloading_then_unloaded(
    scheduler: FakeScheduler, host: FakeHost, link: SchedulerLink
) -> None:
    host.hold("iris", "1", S.AVAILABLE)
    host.hold("iris", "2", S.AVAILABLE)
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(unload(11, "iris", 1))
    assert brief(await stream.events(2)) == [
        ("iris", 1, "Unloading", 11),
        ("iris", 1, "Unloaded", 11),  # one Unloaded, with the order's id
    ]
    assert list(host.versions) == [("iris", "2")]


async def test_unloading_a_version_not_held_answers_unloaded_at_once(
    scheduler: FakeScheduler, link: SchedulerLink
) -> None:
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(unload(12, "ghost", 4))
    assert brief(await stream.events(1)) == [("ghost", 4, "Unloaded", 12)]


async def test_a_failed_unload_reports_the_reason(
    scheduler: FakeScheduler, host: FakeHost, link: SchedulerLink
) -> None:
    host.hold("iris", "1", S.AVAILABLE)
    host.unload_failures["iris"] = "worker did not answer"
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(unload(13, "iris", 1))
    unloading, failed = await stream.events(2)
    assert brief([unloading, failed]) == [
        ("iris", 1, "Unloading", 13),
        ("iris", 1, "UnloadFailed", 13),
    ]
    assert failed.reason == "worker did not answer"


async def test_unloading_a_version_still_loading_waits_for_the_load(
    scheduler: FakeScheduler, host: FakeHost, link: SchedulerLink
) -> None:
    host.gates["iris"] = asyncio.Event()
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(load(20, "iris", 1))
    assert brief(await stream.events(1)) == [("iris", 1, "Loading", 20)]
    stream.outgoing.put_nowait(unload(21, "iris", 1))
    assert brief(await stream.events(1)) == [("iris", 1, "Unloading", 21)]
    host.gates["iris"].set()
    events = brief(await stream.events(2))
    assert ("iris", 1, "Available", 20) in events
    assert ("iris", 1, "Unloaded", 21) in events


async def test_versions_retired_by_the_host_are_reported_unloaded(
    scheduler: FakeScheduler, host: FakeHost, link: SchedulerLink
) -> None:
    host.hold("iris", "1", S.AVAILABLE)
    stream = await connected(scheduler)
    stream.outgoing.put_nowait(load(30, "iris", 2))
    assert brief(await stream.events(3)) == [
        ("iris", 2, "Loading", 30),
        ("iris", 2, "Available", 30),  # before the old version goes
        ("iris", 1, "Unloaded", 0),
    ]


# ---- losing the scheduler --------------------------------------------------------------------


async def test_a_closed_stream_reconnects_and_registers_what_is_held(
    scheduler: FakeScheduler, host: FakeHost
) -> None:
    sleeps = Sleeps()
    link = SchedulerLink(scheduler.target, host, REGISTRATION, backoff_sleep=sleeps)
    link.start()
    try:
        stream = await connected(scheduler)
        stream.outgoing.put_nowait(load(40, "iris", 1))
        await stream.events(2)
        stream.close()
        again = await scheduler.next_stream()
        register = (await again.next("register")).register
        assert [(h.model, h.version, h.state) for h in register.held] == [("iris", 1, "Available")]
        assert sleeps.delays == [0.2]
        await again.next("heartbeat", skip=())
    finally:
        await link.close(grace_s=0.5)


async def test_an_unreachable_scheduler_is_retried_with_growing_delays(host: FakeHost) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    sleeps = Sleeps()
    link = SchedulerLink(f"127.0.0.1:{port}", host, REGISTRATION, backoff_sleep=sleeps)
    link.start()
    try:
        assert [await sleeps.next() for _ in range(4)] == [0.2, 0.4, 0.8, 1.6]
        assert not link.connected
        assert await link.drain(timeout_s=5) == UNREACHABLE  # nobody to ask: leave at once
    finally:
        await link.close(grace_s=0.5)


def test_backoff_doubles_to_its_ceiling_and_resets() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 0.2
    with pytest.raises(ValueError):
        Backoff(initial_s=0)


async def test_events_while_disconnected_are_dropped(host: FakeHost) -> None:
    link = SchedulerLink("127.0.0.1:1", host, REGISTRATION)
    assert not link.send(pb.AgentMessage(heartbeat=pb.Heartbeat(sequence=1)))


# ---- drain -----------------------------------------------------------------------------------


async def test_drain_ends_when_the_scheduler_needs_nothing_here(
    scheduler: FakeScheduler, link: SchedulerLink
) -> None:
    stream = await connected(scheduler)
    drain = asyncio.create_task(link.drain(timeout_s=WAIT_S))
    assert not (await stream.next("draining")).draining.done
    stream.send(drain=pb.DrainAck(pending_models=["iris"]))
    await asyncio.sleep(0.05)
    assert not drain.done()  # iris still needs this server
    stream.send(drain=pb.DrainAck(pending_models=[]))
    assert await drain == DRAINED
    assert (await stream.next("draining")).draining.done
    await link.close(grace_s=WAIT_S)
    assert stream.agent_closed.is_set()  # half-closed after the final Draining


async def test_drain_gives_up_after_its_timeout(
    scheduler: FakeScheduler, link: SchedulerLink
) -> None:
    stream = await connected(scheduler)
    drain = asyncio.create_task(link.drain(timeout_s=0.2))
    assert not (await stream.next("draining")).draining.done
    stream.send(drain=pb.DrainAck(pending_models=["iris"]))
    assert await drain == DRAIN_TIMED_OUT
    assert (await stream.next("draining")).draining.done


async def test_drain_ends_when_the_stream_is_lost(
    scheduler: FakeScheduler, link: SchedulerLink
) -> None:
    stream = await connected(scheduler)
    drain = asyncio.create_task(link.drain(timeout_s=WAIT_S))
    await stream.next("draining")
    stream.close()
    assert await drain == UNREACHABLE
