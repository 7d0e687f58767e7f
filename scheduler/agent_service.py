"""The AgentControl gRPC service: one bidirectional stream per agent (default port 9005).

The handler reads the agent's messages and hands them to `scheduler.agent_events`; a writer
task drains the session's outbox onto the stream. A protocol violation ends the stream with
INVALID_ARGUMENT and a message saying what was wrong; the agent reconnects and registers again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc

from loadmaster import logs
from loadmaster.generated.agentapi.v1 import agent_pb2 as pb
from loadmaster.generated.agentapi.v1 import agent_pb2_grpc
from scheduler import agent_events
from scheduler.core import SchedulerCore
from scheduler.links import CLOSE, AgentLinks, BadAgentMessage, registration, replica_event

log = logs.get_logger("scheduler.agent_service")


class AgentControlService(agent_pb2_grpc.AgentControlServicer):
    def __init__(self, core: SchedulerCore, links: AgentLinks) -> None:
        self.core = core
        self.links = links

    async def Connect(
        self,
        request_iterator: AsyncIterator[pb.AgentMessage],
        context: grpc.aio.ServicerContext[pb.AgentMessage, pb.SchedulerMessage],
    ) -> AsyncIterator[pb.SchedulerMessage]:
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return
        if first.WhichOneof("message") != "register":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message must be Register"
            )
        try:
            reg = registration(first.register)
        except BadAgentMessage as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        session = self.links.attach(reg.server)
        interval = self.core.config.heartbeat_interval_s
        session.outbox.put_nowait(
            pb.SchedulerMessage(registered=pb.Registered(heartbeat_interval_s=interval))
        )
        reader = asyncio.create_task(self._read(reg.server, request_iterator, session.outbox))
        try:
            await agent_events.on_register(self.core, reg)
            while True:
                message = await session.outbox.get()
                if message is CLOSE:
                    break
                yield message
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self.links.detach(session)
            log.info("agent stream closed", server=reg.server)
        error = reader.exception() if reader.done() and not reader.cancelled() else None
        if isinstance(error, BadAgentMessage):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    async def _read(
        self,
        server: str,
        messages: AsyncIterator[pb.AgentMessage],
        outbox: asyncio.Queue[pb.SchedulerMessage | None],
    ) -> None:
        try:
            async for message in messages:
                await self._handle(server, message)
        except BadAgentMessage as exc:
            log.warning("bad message from agent", server=server, error=str(exc))
            raise
        finally:
            outbox.put_nowait(CLOSE)

    async def _handle(self, server: str, message: pb.AgentMessage) -> None:
        kind = message.WhichOneof("message")
        if kind == "heartbeat":
            await agent_events.on_heartbeat(self.core, server)
        elif kind == "event":
            await agent_events.on_event(self.core, server, replica_event(message.event))
        elif kind == "draining":
            await agent_events.on_draining(self.core, server, message.draining.done)
        elif kind == "register":
            raise BadAgentMessage("Register may only be the first message of a stream")
        else:
            raise BadAgentMessage("empty AgentMessage")
