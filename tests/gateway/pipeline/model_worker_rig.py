"""A model worker on a MemoryBus with a scripted model call, a fake clock and a fake sleep."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from gateway.pipeline.model_call import ModelAnswer
from gateway.pipeline.model_worker import ModelWorker
from gateway.pipeline.table import READY, PipelineEntry
from gateway.pipeline.worker_metrics import WorkerMetrics
from loadmaster.kafka.bus import BusError, GroupConsumer, Headers, Producer
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.memory_bus import MemoryBus
from loadmaster.kafka.records import Envelope, ErrorRecord, envelope_of, error_record
from loadmaster.kafka.topics import Topics
from loadmaster.resources.pipeline_spec import PipelineSpec, PipelineStep

CONFIG = KafkaConfig(partitions=2)
TOPICS = Topics.of(CONFIG)
GROUP = "loadmaster.default.model-workers"
START_MS = 1_700_000_000_000
GATEWAY = "http://127.0.0.1:9"


def entry(name: str = "chain", *steps: tuple[str, str], version: int = 1) -> PipelineEntry:
    """A ready pipeline of (step, model) pairs; one step `first` on model `m` by default."""
    pairs = steps or (("first", "m"),)
    spec = PipelineSpec(name, tuple(PipelineStep(s, m) for s, m in pairs))
    return PipelineEntry(spec, version, READY, "")


class Clock:
    def __init__(self) -> None:
        self.now = START_MS
        self.sleeps: list[float] = []

    def __call__(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Back-off in no time: the clock moves on by the delay."""
        self.sleeps.append(seconds)
        self.now += int(seconds * 1000)
        await asyncio.sleep(0)


@dataclass(frozen=True)
class Call:
    model: str
    body: bytes
    header_length: int | None
    timeout_ms: int
    request_id: str


Reply = Callable[[Call], Awaitable[ModelAnswer]]


async def echo(call: Call) -> ModelAnswer:
    return ModelAnswer(200, b"answer:" + call.body, 7 if call.header_length is not None else None)


@dataclass
class FakeCall:
    """Records every call and answers with `reply` (echo by default)."""

    reply: Reply = echo
    calls: list[Call] = field(default_factory=list)
    running: int = 0
    most_running: int = 0

    async def __call__(
        self, model: str, body: bytes, header_length: int | None, timeout_ms: int, request_id: str
    ) -> ModelAnswer:
        call = Call(model, body, header_length, timeout_ms, request_id)
        self.calls.append(call)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            return await self.reply(call)
        finally:
            self.running -= 1


class GatedProducer:
    """Sends only when `gate` is set; fails the first `failures` sends with BusError."""

    def __init__(self, inner: Producer, gate: asyncio.Event, failures: int) -> None:
        self.inner = inner
        self.gate = gate
        self.failures = failures
        self.waiting = asyncio.Event()

    async def start(self) -> None:
        await self.inner.start()

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        self.waiting.set()
        await self.gate.wait()
        if self.failures > 0:
            self.failures -= 1
            raise BusError("broker says no")
        await self.inner.send(topic, value, key=key, headers=headers)

    async def stop(self) -> None:
        await self.inner.stop()


class GatedBus(MemoryBus):
    """A MemoryBus whose producers are `GatedProducer`s sharing one gate."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.failures = failures
        self.gated: list[GatedProducer] = []

    def producer(self, client_id: str) -> GatedProducer:  # type: ignore[override]
        made = GatedProducer(super().producer(client_id), self.gate, self.failures)
        self.gated.append(made)
        return made


class Rig:
    def __init__(self, bus: MemoryBus | None = None, **kwargs: object) -> None:
        self.bus = bus or MemoryBus()
        self.clock = Clock()
        self.call = FakeCall()
        self.registry = CollectorRegistry()
        self.metrics = WorkerMetrics(self.registry)
        self.worker = ModelWorker(
            self.bus,
            CONFIG,
            GATEWAY,
            self.metrics,
            client_id="mw-test",
            call=self.call,
            clock=self.clock,
            sleep=self.clock.sleep,
            commit_interval_s=0,
            **kwargs,  # type: ignore[arg-type]
        )
        self._sender = MemoryBus.producer(self.bus, "test")  # never gated

    def create(self, *models: str) -> None:
        for model in models:
            self.bus.create(TOPICS.model_inputs(model), CONFIG.partitions)
            self.bus.create(TOPICS.model_outputs(model), CONFIG.partitions)
        self.bus.create(TOPICS.errors, CONFIG.partitions)

    def envelope(
        self, request: str = "r1", step: str = "first", pipeline: str = "chain", **kw: object
    ) -> Envelope:
        fields: dict[str, object] = {"deadline_ms": self.clock.now + 60_000, "gateway": "gw-1"}
        fields.update(kw)
        return Envelope(request=request, pipeline=pipeline, step=step, **fields)  # type: ignore[arg-type]

    async def send(self, model: str, value: bytes, envelope: Envelope) -> None:
        await self._sender.send(
            TOPICS.model_inputs(model),
            value,
            key=envelope.request.encode(),
            headers=envelope.headers(),
        )

    async def send_raw(self, model: str, value: bytes, headers: Headers = ()) -> None:
        await self._sender.send(TOPICS.model_inputs(model), value, key=b"x", headers=headers)

    def outputs(self, model: str) -> list[tuple[Envelope, bytes]]:
        return [(envelope_of(r), r.value) for r in self.bus.records(TOPICS.model_outputs(model))]

    def errors(self) -> list[tuple[Envelope, ErrorRecord]]:
        return [(envelope_of(r), error_record(r.value)) for r in self.bus.records(TOPICS.errors)]

    def committed(self) -> int:
        """Records committed by the group, over every partition."""
        return sum(self.bus.committed.get(GROUP, {}).values())

    def outcomes(self, outcome: str) -> float:
        value = self.registry.get_sample_value(
            "loadmaster_pipeline_records_total", {"role": "model", "outcome": outcome}
        )
        return value or 0.0

    def subscribed(self) -> Collection[str]:
        members: list[GroupConsumer] = list(self.bus.members(GROUP))
        return {t for m in members for t in getattr(m, "topics", ())}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Rig]:
        task = asyncio.create_task(self.worker.run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.worker.close()
