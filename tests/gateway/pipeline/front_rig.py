"""The pipeline front on a MemoryBus, with a fake pipeline behind it playing the workers' part.

The fake reads `pipeline.P.inputs` as the dataflow worker would and writes what a test asks for
under the same request id and gateway header: an echo answer (the request's inputs as outputs,
binary when the request asked for binary outputs), an `ErrorRecord` on the errors topic,
several copies, an answer addressed to another gateway, or nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from gateway.pipeline.front import PipelineFront
from gateway.pipeline.front_metrics import PipelineMetrics
from gateway.pipeline.table import PipelineEntry
from loadmaster.kafka.bus import Record
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.memory_bus import MemoryAdmin, MemoryBus
from loadmaster.kafka.records import Envelope, ErrorRecord, Kind, envelope_of
from loadmaster.kafka.topics import Topics
from loadmaster.oip import rest_codec
from loadmaster.oip.types import InferResponse
from loadmaster.resources.pipeline_spec import PipelineSpec, PipelineStep
from tests.gateway.fakes import until

INSTANCE = "gw-test-1"
WALL_CLOCK_S = 1_700_000_000.0  # the front's wall clock in these tests: deadlines are exact


def entry(name: str = "chain", state: str = "PipelineReady", reason: str = "") -> PipelineEntry:
    spec = PipelineSpec(name, (PipelineStep("first", "m1"), PipelineStep("second", "m2")))
    return PipelineEntry(spec, 3, state, reason)


def echo(record: Record) -> tuple[bytes, int | None]:
    """The answer a one-step identity pipeline gives: the request's inputs as its outputs."""
    header_length = envelope_of(record).header_length
    request = rest_codec.decode_infer_request(record.value, header_length, "chain")
    response = InferResponse("chain", request.inputs, id=request.id)
    return rest_codec.encode_infer_response(response, request)


@dataclass
class FakePipeline:
    """`error` answers with that record; `copies` answers that many times; `gateway`
    addresses the answers to another instance first; `silent` answers nothing."""

    bus: MemoryBus
    topics: Topics
    name: str = "chain"
    error: ErrorRecord | None = None
    copies: int = 1
    other_gateway_first: bool = False
    silent: bool = False
    seen: list[Record] = field(default_factory=list)

    async def run(self) -> None:
        consumer = self.bus.group_consumer("fake-dataflow", "fake")
        producer = self.bus.producer("fake")
        await consumer.start()
        await producer.start()
        try:
            await consumer.subscribe([self.topics.pipeline_inputs(self.name)])
            while True:
                for record in await consumer.fetch(100, 1000):
                    self.seen.append(record)
                    if not self.silent:
                        for topic, value, envelope in self.answers(record):
                            await producer.send(
                                topic, value, key=record.key, headers=envelope.headers()
                            )
        finally:
            await consumer.stop()
            await producer.stop()

    def answers(self, record: Record) -> list[tuple[str, bytes, Envelope]]:
        asked = envelope_of(record)
        out: list[tuple[str, bytes, Envelope]] = []
        if self.other_gateway_first:
            other = dataclasses.replace(asked, gateway="someone-else", header_length=None)
            out.append((self.topics.pipeline_outputs(self.name), b'{"not": "mine"}', other))
        if self.error is not None:
            failed = dataclasses.replace(asked, kind=Kind.ERROR, header_length=None)
            out += [(self.topics.errors, self.error.to_json(), failed)] * self.copies
            return out
        for copy in range(self.copies):
            body, header_length = echo(record)
            if copy:
                body = body.replace(b'"chain"', b'"later"')  # a duplicate tells itself apart
            answered = dataclasses.replace(asked, header_length=header_length)
            out.append((self.topics.pipeline_outputs(self.name), body, answered))
        return out


class DownBus(MemoryBus):
    """A MemoryBus whose admin cannot connect while `down` is set (a broker not yet up)."""

    def __init__(self, failure: Exception | None = None) -> None:
        super().__init__()
        self.down = True
        self.failure = failure or ConnectionError("connection refused")

    def admin(self, client_id: str) -> MemoryAdmin:
        return _DownAdmin(self)


class _DownAdmin(MemoryAdmin):
    def __init__(self, bus: DownBus) -> None:
        super().__init__(bus)
        self._down_bus = bus

    async def start(self) -> None:
        if self._down_bus.down:
            raise self._down_bus.failure


@dataclass
class FrontRig:
    bus: MemoryBus
    topics: Topics
    front: PipelineFront
    fake: FakePipeline
    registry: CollectorRegistry

    def sample(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def ignored(self, reason: str) -> float:
        return self.sample("loadmaster_gateway_pipeline_answers_ignored_total", reason=reason)

    async def servable(self, name: str = "chain") -> None:
        await until(lambda: (s := self.front.status(name)) is not None and s.ready)

    def inputs(self, name: str = "chain") -> list[Record]:
        return self.bus.records(self.topics.pipeline_inputs(name))


@contextlib.asynccontextmanager
async def make_front_rig(
    *,
    bus: MemoryBus | None = None,
    kafka: bool = True,
    default_timeout_s: float = 5.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    pipelines: tuple[PipelineEntry, ...] = (),
) -> AsyncIterator[FrontRig]:
    """A started front with `pipelines` (default: a ready `chain`) and the fake running."""
    bus = bus or MemoryBus()
    config = KafkaConfig(partitions=2)
    topics = Topics.of(config)
    registry = CollectorRegistry()
    front = PipelineFront(
        bus if kafka else None,
        config if kafka else None,
        PipelineMetrics(registry),
        instance=INSTANCE,
        default_timeout_s=default_timeout_s,
        wall_clock=lambda: WALL_CLOCK_S,
        sleep=sleep,
    )
    await front.start()
    front.set_pipelines({p.name: p for p in pipelines or (entry(),)})
    fake = FakePipeline(bus, topics)
    task = asyncio.create_task(fake.run())
    try:
        yield FrontRig(bus, topics, front, fake, registry)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await front.close()
