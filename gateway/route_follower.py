"""Follows the scheduler's route table: subscribe, apply each snapshot, reconnect on loss.

When the stream breaks the gateway keeps serving the last table it had: the replicas in it were
ready a moment ago and most still are (a retry covers the ones that are not), whereas an empty
table would turn a scheduler restart into an outage of every model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable

import grpc

from gateway.routes import RouteTable
from loadmaster import logs
from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc

log = logs.get_logger("gateway.routes")

Sleep = Callable[[float], Awaitable[None]]
INITIAL_BACKOFF_S = 0.2
MAX_BACKOFF_S = 5.0


class RouteFollower:
    """Calls `on_table` with every table the scheduler sends, from one background task.

    Back-off between attempts runs 0.2 s doubling to 5 s: quick after a blip, gentle on a
    scheduler that is down for long; it starts quick again once a table has arrived. Each
    attempt opens a fresh channel so a broken connection is never reused. `sleep` is
    injectable so tests run the back-off in no time.
    """

    def __init__(
        self,
        scheduler_address: str,
        gateway_name: str,
        on_table: Callable[[RouteTable], None],
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.scheduler_address = scheduler_address
        self.gateway_name = gateway_name
        self._on_table = on_table
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.generation: int | None = None  # of the last table applied; None before the first
        self.connected = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gateway-route-follower")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = INITIAL_BACKOFF_S
        while True:
            try:
                async with contextlib.aclosing(self._subscribe()) as tables:
                    async for table in tables:
                        delay = INITIAL_BACKOFF_S
                        self._apply(table)
                problem = "the scheduler ended the stream"
            except grpc.aio.AioRpcError as exc:
                problem = f"{exc.code().name}: {exc.details()}"
            except Exception as exc:  # a bad message or a failing consumer must not end routing
                log.exception("route stream failed", scheduler=self.scheduler_address)
                problem = f"{type(exc).__name__}: {exc}"
            self.connected = False
            log.warning(
                "route stream lost; keeping the last table",
                scheduler=self.scheduler_address,
                problem=problem,
                generation=self.generation,
                retry_in_s=delay,
            )
            await self._sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)

    async def _subscribe(self) -> AsyncGenerator[RouteTable, None]:
        async with grpc.aio.insecure_channel(self.scheduler_address) as channel:
            stub: admin_pb2_grpc.SchedulerAdminAsyncStub = admin_pb2_grpc.SchedulerAdminStub(
                channel
            )
            call = stub.SubscribeRoutes(pb.SubscribeRoutesRequest(gateway=self.gateway_name))
            async for message in call:
                yield RouteTable.from_proto(message)

    def _apply(self, table: RouteTable) -> None:
        if not self.connected:
            log.info(
                "following routes",
                scheduler=self.scheduler_address,
                generation=table.generation,
                models=len(table.routes),
            )
        self.connected = True
        self.generation = table.generation
        self._on_table(table)
