"""The agent's stream to the scheduler: register, heart-beat, obey orders, report, drain.

One `Connect` stream at a time. Its first message registers this server with everything it
holds; the scheduler reconciles against that, so a lost stream costs nothing but a new
registration: the agent keeps serving, loads in progress go on, and it reconnects with
exponential back-off. Events produced while no stream is up are dropped on purpose, since
the next registration carries the truth.

Draining is the polite exit: the agent asks the scheduler to move its replicas, keeps serving
until the scheduler says nothing here is needed any more (an empty `DrainAck`), and gives up
after a deadline or when the scheduler cannot be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import grpc

from agent.link.backoff import Backoff
from agent.link.host import ModelHost, Registration
from agent.link.orders import OrderRunner
from loadmaster import logs
from loadmaster.generated.agentapi.v1 import agent_pb2 as pb
from loadmaster.generated.agentapi.v1 import agent_pb2_grpc as pb_grpc

log = logs.get_logger("agent.link")

Sleep = Callable[[float], Awaitable[None]]
Call: TypeAlias = "grpc.aio.StreamStreamCall[pb.AgentMessage, pb.SchedulerMessage]"
Outbox = asyncio.Queue[pb.AgentMessage | None]  # None: half-close the stream

DRAINED = "drained"
DRAIN_TIMED_OUT = "timed out"
UNREACHABLE = "scheduler unreachable"


class StreamEnded(Exception):
    """The stream ended without a gRPC error: closed by the scheduler, or it never registered."""


class SchedulerLink:
    """`start()` it once; it then holds a stream to `target` (HOST:PORT) until `close()`.

    `host` is the data plane (anything with `ModelHost`'s four methods); `registration` the
    fixed part of every `Register`. `backoff` and `backoff_sleep` pace reconnection attempts
    and are injectable so tests run them in milliseconds. A scheduler that opens the stream but
    does not answer `Registered` within `register_timeout_s` is treated as unreachable.
    """

    def __init__(
        self,
        target: str,
        host: ModelHost,
        registration: Registration,
        *,
        backoff: Backoff | None = None,
        backoff_sleep: Sleep = asyncio.sleep,
        register_timeout_s: float = 10.0,
        default_heartbeat_s: float = 5.0,
    ) -> None:
        self.target = target
        self._host = host
        self._registration = registration
        self._backoff = backoff or Backoff()
        self._sleep = backoff_sleep
        self._register_timeout_s = register_timeout_s
        self._default_heartbeat_s = default_heartbeat_s
        self._orders = OrderRunner(host, self.send)
        self._outbox: Outbox | None = None  # the open stream's; None between streams
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._drain_over: asyncio.Event | None = None
        self._drain_outcome = ""
        self._pending: list[str] | None = None

    @property
    def connected(self) -> bool:
        """A stream is open (registered, or its Register is on the way)."""
        return self._outbox is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler-link")

    def send(self, message: pb.AgentMessage) -> bool:
        """Queue `message` on the current stream; False (dropped) while there is none."""
        if self._outbox is None:
            log.debug("not connected; message dropped", kind=message.WhichOneof("message"))
            return False
        self._outbox.put_nowait(message)
        return True

    # ---- the stream ------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing:
            try:
                await self._session()
            except StreamEnded as exc:
                if not self._closing:  # else: our own half-close, answered
                    log.warning("scheduler stream ended", scheduler=self.target, reason=str(exc))
            except grpc.aio.AioRpcError as exc:
                if not self._closing:
                    code, details = exc.code().name, exc.details()
                    log.warning("scheduler stream failed", code=code, details=details)
            except Exception:  # keep serving and keep trying, whatever went wrong
                log.exception("scheduler stream broke", scheduler=self.target)
            if self._closing:
                return
            delay = self._backoff.next()
            log.info("reconnecting to the scheduler", scheduler=self.target, delay_s=delay)
            await self._sleep(delay)

    async def _session(self) -> None:
        async with grpc.aio.insecure_channel(self.target) as channel:
            call: Call = pb_grpc.AgentControlStub(channel).Connect()
            outbox: Outbox = asyncio.Queue()
            # Held versions and the events after them travel on one ordered stream.
            outbox.put_nowait(self._registration.message(self._host.held()))
            self._outbox = outbox
            writer = asyncio.create_task(self._write(call, outbox))
            heartbeat: asyncio.Task[None] | None = None
            try:
                try:
                    first = await asyncio.wait_for(self._read(call), self._register_timeout_s)
                except TimeoutError:
                    raise StreamEnded("no Registered answer in time") from None
                if not first.HasField("registered"):
                    raise StreamEnded(f"expected Registered, got {first.WhichOneof('message')}")
                interval = first.registered.heartbeat_interval_s
                heartbeat = asyncio.create_task(self._heartbeat(outbox, interval))
                self._backoff.reset()
                log.info("registered with the scheduler", scheduler=self.target)
                while True:
                    self._dispatch(await self._read(call))
            finally:
                self._outbox = None
                if self._drain_over is not None:  # a new stream would not know of the drain
                    self._end_drain(UNREACHABLE)
                for task in (writer, heartbeat):
                    if task is not None:
                        task.cancel()
                call.cancel()

    @staticmethod
    async def _read(call: Call) -> pb.SchedulerMessage:
        message = await call.read()
        if not isinstance(message, pb.SchedulerMessage):
            raise StreamEnded("the scheduler closed the stream")
        return message

    @staticmethod
    async def _write(call: Call, outbox: Outbox) -> None:
        """The stream's only writer: grpc allows one write in flight at a time."""
        try:
            while True:
                message = await outbox.get()
                try:
                    if message is None:
                        await call.done_writing()
                        return
                    await call.write(message)
                finally:
                    outbox.task_done()
        except Exception as exc:  # the call is over; `call.read` says how
            log.debug("stream write failed; the read side will end the stream", error=str(exc))

    async def _heartbeat(self, outbox: Outbox, interval_s: float) -> None:
        if interval_s <= 0:
            interval_s = self._default_heartbeat_s
        sequence = 0
        while True:
            await asyncio.sleep(interval_s)
            sequence += 1
            outbox.put_nowait(pb.AgentMessage(heartbeat=pb.Heartbeat(sequence=sequence)))

    def _dispatch(self, message: pb.SchedulerMessage) -> None:
        kind = message.WhichOneof("message")
        if kind == "load":
            self._orders.load(message.load)
        elif kind == "unload":
            self._orders.unload(message.unload)
        elif kind == "drain":
            self._on_drain_ack(list(message.drain.pending_models))
        elif kind != "registered":  # a repeated Registered changes nothing
            log.warning("unknown message from the scheduler", kind=kind)

    # ---- drain -----------------------------------------------------------------------------

    def _on_drain_ack(self, pending: list[str]) -> None:
        if pending and pending != self._pending:
            log.info("draining; models still needed here", pending=pending)
        self._pending = pending
        if not pending and self._drain_over is not None:
            self._end_drain(DRAINED)

    def _end_drain(self, outcome: str) -> None:
        assert self._drain_over is not None
        if not self._drain_over.is_set():
            self._drain_outcome = outcome
            self._drain_over.set()

    async def drain(self, timeout_s: float) -> str:
        """Ask the scheduler to move this server's replicas away; return why it ended:
        `drained`, `timed out` or `scheduler unreachable`. The agent serves meanwhile."""
        over = self._drain_over = asyncio.Event()
        if not self.send(pb.AgentMessage(draining=pb.Draining(done=False))):
            self._end_drain(UNREACHABLE)
        try:
            await asyncio.wait_for(over.wait(), timeout_s)
        except TimeoutError:
            self._end_drain(DRAIN_TIMED_OUT)
        outcome = self._drain_outcome
        log.info("drain finished", outcome=outcome, pending=self._pending or [])
        self.send(pb.AgentMessage(draining=pb.Draining(done=True)))  # best effort
        return outcome

    async def close(self, grace_s: float = 1.0) -> None:
        """Stop reconnecting; half-close the stream behind what is queued (so a final
        `Draining` gets out) and give the scheduler `grace_s` to end it; cancel what is left."""
        self._closing = True
        outbox, task = self._outbox, self._task
        if task is not None:
            if outbox is not None:
                outbox.put_nowait(None)
                await asyncio.wait({task}, timeout=grace_s)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._orders.close()
