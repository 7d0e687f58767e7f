"""Stand-ins for the gateway's neighbours on loopback: agents (small aiohttp servers) and the
scheduler's route stream (a grpc.aio servicer that plays scripted streams)."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

from aiohttp import web
from multidict import CIMultiDict

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc

T = TypeVar("T")
HEADER_LENGTH = "Inference-Header-Content-Length"
WAIT_S = 5.0  # generous: a hang fails the test instead of stalling the suite


async def until(condition: Callable[[], bool]) -> None:
    """Poll `condition`, for states that no event announces (a count, a subscription)."""
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 - no event to wait on, only the state
            await asyncio.sleep(0.005)


async def start_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free loopback port; the handler is cancelled when its client leaves."""
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"{host}:{port}"


def closed_port() -> str:
    """A loopback address nothing listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


class FirstTwo(random.Random):
    """Makes the balancer's two random choices the first two candidates, in order."""

    def sample(
        self, population: Sequence[T], k: int, *, counts: Iterable[int] | None = None
    ) -> list[T]:
        return list(population)[:k]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class FakeAgent:
    """An agent's OIP REST as the gateway sees it: records every request, then echoes the body
    back with its `Inference-Header-Content-Length` (binary) or answers JSON naming itself.
    `status` other than 200 answers `{"error": ...}`; `delay_s` holds the answer back;
    `truncate` promises a body and hangs up after a part of it; `on_request` runs first.
    `infer_stream` answers `events` as server-sent events, holding all but the first back
    until `gate` is set (when there is one), and hangs up after the first with `truncate`."""

    name: str
    status: int = 200
    delay_s: float = 0.0
    truncate: bool = False
    on_request: Callable[[], None] | None = None
    events: list[bytes] = field(default_factory=lambda: [b"data: {}\n\n"])
    gate: asyncio.Event | None = None
    seen: list[Seen] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    address: str = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path_qs, CIMultiDict(request.headers), body))
        if self.on_request is not None:
            self.on_request()
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        if self.status != 200:
            return web.json_response(
                {"error": f"{self.name} says {self.status}"}, status=self.status
            )
        if request.path.endswith("/infer_stream"):
            return await self._events(request)
        if self.truncate:
            return await self._hang_up(request)
        length = request.headers.get(HEADER_LENGTH)
        if length is not None:
            headers = {HEADER_LENGTH: length, "Content-Type": "application/octet-stream"}
            return web.Response(body=body, headers=headers)
        return web.json_response({"server": self.name, "path": request.path})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        first, *rest = self.events
        await response.write(first)
        try:
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        if self.truncate:
            assert request.transport is not None
            request.transport.close()
            return response
        for event in rest:
            await response.write(event)
        await response.write_eof()
        return response

    async def _hang_up(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b"0123456789")
        assert request.transport is not None
        request.transport.close()
        return response


class FakeRoutes(admin_pb2_grpc.SchedulerAdminServicer):
    """`SubscribeRoutes` only: each subscription plays the next script from `scripts`."""

    def __init__(self) -> None:
        self.scripts: asyncio.Queue[Script] = asyncio.Queue()
        self.subscribers: list[str] = []

    async def SubscribeRoutes(
        self, request: pb.SubscribeRoutesRequest, context: object
    ) -> AsyncIterator[pb.RouteTable]:
        self.subscribers.append(request.gateway)
        script = await self.scripts.get()
        if script.gate is not None:
            await script.gate.wait()
        for table in script.tables:
            yield table
        if script.hold:
            await asyncio.Event().wait()

    def _unused(self, request: object, context: object) -> NoReturn:
        raise NotImplementedError

    LoadModel = UnloadModel = ModelStatus = ListModels = _unused
    ServerStatus = ListServers = SchedulerStatus = _unused
    SubscribeModelStatus = SubscribeServerStatus = _unused
    StartExperiment = StopExperiment = ExperimentStatus = ListExperiments = ReportTraffic = _unused
    LoadPipeline = UnloadPipeline = PipelineStatus = ListPipelines = _unused


@dataclass
class Script:
    """One subscription: wait for `gate` if any, send `tables`, then end or hold the stream."""

    tables: list[pb.RouteTable] = field(default_factory=list)
    hold: bool = False
    gate: asyncio.Event | None = None


def table(generation: int, *models: pb.ModelRoute) -> pb.RouteTable:
    return pb.RouteTable(generation=generation, models=list(models))


def model_route(
    name: str, version: int = 1, servers: Sequence[str] = (), state: str = "ModelAvailable"
) -> pb.ModelRoute:
    return pb.ModelRoute(
        model=name,
        version=version,
        state=state,
        endpoints=[
            pb.RouteEndpoint(
                server=s, version=version, http_endpoint=f"{s}:1", grpc_endpoint=f"{s}:2"
            )
            for s in servers
        ],
    )
