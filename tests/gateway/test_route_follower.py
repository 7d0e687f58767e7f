"""The route follower against a fake scheduler on grpc.aio loopback: tables applied in order,
reconnection with back-off after the stream ends, and the last table kept meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from gateway.route_follower import RouteFollower
from gateway.routes import RouteTable
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from tests.gateway.fakes import FakeRoutes, Script, closed_port, model_route, table, until


@pytest.fixture
async def scheduler() -> AsyncIterator[tuple[FakeRoutes, str]]:
    fake = FakeRoutes()
    server = grpc.aio.server()
    admin_pb2_grpc.add_SchedulerAdminServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, f"127.0.0.1:{port}"
    await server.stop(grace=None)


class Recorder:
    """Collects tables and the back-off delays the follower asked for (without waiting)."""

    def __init__(self) -> None:
        self.tables: list[RouteTable] = []
        self.delays: list[float] = []

    def on_table(self, table: RouteTable) -> None:
        self.tables.append(table)

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


async def test_tables_are_applied_in_order(scheduler: tuple[FakeRoutes, str]) -> None:
    fake, address = scheduler
    rec = Recorder()
    first = table(1, model_route("iris", servers=["a"]))
    second = table(2, model_route("iris", servers=["a", "b"]), model_route("mlp"))
    await fake.scripts.put(Script([first, second], hold=True))
    follower = RouteFollower(address, "gw-1", rec.on_table, sleep=rec.sleep)
    follower.start()
    try:
        await until(lambda: len(rec.tables) == 2)
    finally:
        await follower.close()
    assert [t.generation for t in rec.tables] == [1, 2]
    iris = rec.tables[1].lookup("iris")
    assert iris is not None and [e.server for e in iris.endpoints] == ["a", "b"]
    assert rec.tables[1].lookup("mlp") is not None
    assert fake.subscribers == ["gw-1"]
    assert rec.delays == []
    assert follower.connected and follower.generation == 2


async def test_reconnects_and_keeps_the_last_table_meanwhile(
    scheduler: tuple[FakeRoutes, str],
) -> None:
    fake, address = scheduler
    rec = Recorder()
    gate = asyncio.Event()
    await fake.scripts.put(Script([table(1, model_route("iris", servers=["a"]))]))  # then ends
    await fake.scripts.put(Script([]))  # ends at once: back-off grows
    await fake.scripts.put(Script([table(2, model_route("iris", servers=["b"]))], gate=gate))
    follower = RouteFollower(address, "gw", rec.on_table, sleep=rec.sleep)
    follower.start()
    try:
        await until(lambda: len(fake.subscribers) == 3)
        # the stream broke twice: nothing replaced the table the gateway routes with
        assert [t.generation for t in rec.tables] == [1]
        assert rec.delays == [0.2, 0.4]
        assert not follower.connected and follower.generation == 1
        gate.set()
        await until(lambda: len(rec.tables) == 2)
        await fake.scripts.put(Script([], hold=True))
        await until(lambda: len(fake.subscribers) == 4)
    finally:
        await follower.close()
    assert [t.generation for t in rec.tables] == [1, 2]
    assert rec.delays == [0.2, 0.4, 0.2]  # a table arrived: back-off starts quick again


async def test_backoff_doubles_to_five_seconds_while_unreachable() -> None:
    rec = Recorder()
    follower = RouteFollower(closed_port(), "gw", rec.on_table, sleep=rec.sleep)
    follower.start()
    try:
        await until(lambda: len(rec.delays) >= 8)
    finally:
        await follower.close()
    assert rec.delays[:8] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert rec.tables == []


async def test_close_before_start_and_twice() -> None:
    follower = RouteFollower(closed_port(), "gw", lambda table: None)
    await follower.close()
    follower.start()
    await follower.close()
    await follower.close()
