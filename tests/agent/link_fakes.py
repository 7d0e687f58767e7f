"""Fakes for the scheduler link's tests: a model host and an AgentControl server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc

from agent.models import ModelVersion, VersionInfo, VersionListener
from loadmaster.generated.agentapi.v1 import agent_pb2 as pb
from loadmaster.generated.agentapi.v1 import agent_pb2_grpc as pb_grpc
from loadmaster.oip import errors
from loadmaster.oip.types import TensorSpec
from loadmaster.replica_state import ReplicaState, ReplicaStatus

WAIT_S = 5.0  # generous: a hang fails the test instead of stalling the suite
Signature = tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]  # (inputs, outputs)


class FakeHost:
    """Behaves like `DataPlane` where the link can tell: a new Available version retires the
    older ones of its model, and every change reaches the listeners in order."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], VersionInfo] = {}
        self.listeners: list[VersionListener] = []
        self.gates: dict[str, asyncio.Event] = {}  # a model's loads wait here when present
        self.failures: dict[str, str] = {}  # model -> load error message
        self.unload_failures: dict[str, str] = {}
        self.signatures: dict[str, Signature] = {}  # model -> what its loads declare

    def hold(
        self,
        name: str,
        version: str,
        state: ReplicaState,
        digest: str = "",
        signature: Signature = ((), ()),
    ) -> None:
        inputs, outputs = signature
        info = VersionInfo(name, version, state, digest=digest, inputs=inputs, outputs=outputs)
        self.versions[(name, version)] = info

    def held(self) -> list[VersionInfo]:
        return list(self.versions.values())

    def add_listener(self, listener: VersionListener) -> None:
        self.listeners.append(listener)

    def _set(self, info: VersionInfo) -> None:
        if info.state is ReplicaState.UNLOADED:
            self.versions.pop((info.name, info.version), None)
        else:
            self.versions[(info.name, info.version)] = info
        for listener in self.listeners:
            listener(info)

    async def load(
        self, name: str, storage_uri: str | None = None, version: str | None = None
    ) -> ModelVersion:
        assert version is not None
        self._set(VersionInfo(name, version, ReplicaState.LOADING))
        gate = self.gates.get(name)
        if gate is not None:
            await gate.wait()
        if name in self.failures:
            self._set(VersionInfo(name, version, ReplicaState.LOAD_FAILED, self.failures[name]))
            raise errors.BadRequest(f"model '{name}' failed to load: {self.failures[name]}")
        inputs, outputs = self.signatures.get(name, ((), ()))
        available = ReplicaState.AVAILABLE
        self._set(
            VersionInfo(name, version, available, rss_bytes=1000, inputs=inputs, outputs=outputs)
        )
        for old in [v for (n, v) in list(self.versions) if n == name and v != version]:
            self._set(VersionInfo(name, old, ReplicaState.UNLOADING))
            self._set(VersionInfo(name, old, ReplicaState.UNLOADED))
        return ModelVersion(name, version, storage_uri or "", ReplicaStatus(ReplicaState.AVAILABLE))

    async def unload_version(self, name: str, version: str) -> bool:
        if name in self.unload_failures:
            raise RuntimeError(self.unload_failures[name])
        if (name, version) not in self.versions:
            return False
        self._set(VersionInfo(name, version, ReplicaState.UNLOADING))
        self._set(VersionInfo(name, version, ReplicaState.UNLOADED))
        return True


class Stream:
    """One agent connection as the fake scheduler sees it."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[pb.AgentMessage] = asyncio.Queue()
        self.outgoing: asyncio.Queue[pb.SchedulerMessage | None] = asyncio.Queue()
        self.agent_closed = asyncio.Event()

    def send(self, **message: Any) -> None:
        self.outgoing.put_nowait(pb.SchedulerMessage(**message))

    def close(self) -> None:
        self.outgoing.put_nowait(None)

    async def next(self, kind: str, skip: tuple[str, ...] = ("heartbeat",)) -> pb.AgentMessage:
        """The next message of `kind`; messages of a `skip` kind are passed over."""
        async with asyncio.timeout(WAIT_S):
            while True:
                message = await self.received.get()
                got = message.WhichOneof("message")
                if got == kind:
                    return message
                assert got in skip, f"expected {kind}, got {message}"

    async def events(self, count: int) -> list[pb.ReplicaEvent]:
        return [(await self.next("event")).event for _ in range(count)]


class FakeScheduler(pb_grpc.AgentControlServicer):
    def __init__(self, heartbeat_interval_s: float = 0.05) -> None:
        self.heartbeat_interval_s = heartbeat_interval_s
        self.streams: asyncio.Queue[Stream] = asyncio.Queue()
        self.target = ""

    async def next_stream(self) -> Stream:
        return await asyncio.wait_for(self.streams.get(), WAIT_S)

    async def Connect(
        self, request_iterator: AsyncIterator[pb.AgentMessage], context: Any
    ) -> AsyncIterator[pb.SchedulerMessage]:
        stream = Stream()

        async def read() -> None:
            async for message in request_iterator:
                if message.HasField("register"):
                    interval = self.heartbeat_interval_s
                    stream.send(registered=pb.Registered(heartbeat_interval_s=interval))
                stream.received.put_nowait(message)
            stream.agent_closed.set()
            stream.close()  # like the real scheduler: the agent's half-close ends the stream

        reader = asyncio.create_task(read())
        self.streams.put_nowait(stream)
        try:
            while (message := await stream.outgoing.get()) is not None:
                yield message
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await reader


@contextlib.asynccontextmanager
async def running(scheduler: FakeScheduler) -> AsyncIterator[FakeScheduler]:
    server = grpc.aio.server()
    pb_grpc.add_AgentControlServicer_to_server(scheduler, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    scheduler.target = f"127.0.0.1:{port}"
    try:
        yield scheduler
    finally:
        await server.stop(grace=None)
