"""A dataflow worker on a MemoryBus with a fake clock, and the model worker's part played by
plain functions: the tests put a request in, turn the worker, and read what came out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
from prometheus_client import CollectorRegistry

from gateway.pipeline.dataflow_worker import DataflowWorker
from gateway.pipeline.table import READY, PipelineEntry
from gateway.pipeline.worker_metrics import WorkerMetrics
from loadmaster.kafka.bus import BusError, Headers
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.memory_bus import MemoryBus, MemoryProducer
from loadmaster.kafka.records import Envelope, ErrorRecord, Kind, envelope_of, error_record
from loadmaster.kafka.topics import Topics
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.rest_codec import (
    decode_infer_request,
    decode_infer_response,
    encode_infer_request,
    encode_infer_response,
)
from loadmaster.oip.types import InferRequest, InferResponse, Tensor
from loadmaster.resources.pipeline_spec import PipelineSpec

START_MS = 1_700_000_000_000
DEADLINE_MS = START_MS + 10_000
Model = Callable[[InferRequest], Sequence[Tensor]]


def fp32(name: str, *values: float) -> Tensor:
    data = np.array(values, dtype=np.float32)
    return Tensor(name, DataType.FP32, data.shape, data)


def values(tensor: Tensor) -> list[float]:
    return [float(v) for v in tensor.data.reshape(-1)]


def doubled(request: InferRequest) -> list[Tensor]:
    """A model: every input `n` comes back as `n` with twice its values."""
    return [fp32(t.name, *(2 * v for v in values(t))) for t in request.inputs]


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0  # monotonic seconds
        self.wall = START_MS

    def monotonic(self) -> float:
        return self.now

    def wall_ms(self) -> int:
        return self.wall

    def advance(self, ms: int) -> None:
        self.now += ms / 1000
        self.wall += ms


class FlakyProducer(MemoryProducer):
    def __init__(self, bus: FlakyBus) -> None:
        super().__init__(bus)
        self.flaky = bus

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        if self.flaky.refuse:
            raise BusError("broker unreachable")
        if self.flaky.held is not None:
            await self.flaky.held.wait()
        await super().send(topic, value, key=key, headers=headers)


class FlakyBus(MemoryBus):
    """A MemoryBus whose producers fail while `refuse` is set, and whose sends wait for
    `held` to be set while it is an Event (the broker is slow to acknowledge)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = False
        self.held: asyncio.Event | None = None

    def producer(self, client_id: str) -> FlakyProducer:
        return FlakyProducer(self)


class Rig:
    def __init__(self, *specs: PipelineSpec, partitions: int = 2) -> None:
        self.bus = FlakyBus()
        self.config = KafkaConfig()
        self.topics = Topics.of(self.config)
        self.clock = FakeClock()
        self.registry = CollectorRegistry()
        for spec in specs:
            for topic in self.topics.of_pipeline(spec.name, spec.models):
                self.bus.create(topic, partitions)
        self.worker = DataflowWorker(
            self.bus,
            self.config,
            WorkerMetrics(self.registry),
            client_id="dataflow-test",
            clock=self.clock.monotonic,
            wall_ms=self.clock.wall_ms,
        )
        self.worker.set_pipelines({s.name: PipelineEntry(s, 1, READY, "") for s in specs})
        self._answered: set[tuple[str, int, int]] = set()

    def envelope(self, pipeline: str, request: str = "req-1", **changes: object) -> Envelope:
        base = Envelope(
            request=request,
            pipeline=pipeline,
            deadline_ms=DEADLINE_MS,
            gateway="gw-1",
            client_request=f"client-{request}",
            pipeline_version=1,
        )
        return replace(base, **changes)  # type: ignore[arg-type]

    async def request(self, pipeline: str, *tensors: Tensor, request: str = "req-1") -> None:
        body, length = encode_infer_request(InferRequest(pipeline, tuple(tensors)), binary=True)
        envelope = self.envelope(pipeline, request, header_length=length)
        await self.put(self.topics.pipeline_inputs(pipeline), body, envelope)

    async def put(self, topic: str, value: bytes, envelope: Envelope) -> None:
        await self.bus.append(topic, value, envelope.request.encode(), envelope.headers())

    async def turn(self) -> int:
        return await self.worker.run_once(timeout_ms=0)

    def step_requests(self, model: str) -> list[tuple[Envelope, InferRequest]]:
        out = []
        for record in self.bus.records(self.topics.model_inputs(model)):
            env = envelope_of(record)
            out.append((env, decode_infer_request(record.value, env.header_length, model)))
        return out

    async def play_models(self, models: Mapping[str, Model]) -> int:
        """Answer every step request not answered yet, as the model worker would."""
        answered = 0
        for model, call in models.items():
            for record in self.bus.records(self.topics.model_inputs(model)):
                mark = (record.topic, record.partition, record.offset)
                if mark in self._answered:
                    continue
                self._answered.add(mark)
                env = envelope_of(record)
                request = decode_infer_request(record.value, env.header_length, model)
                response = InferResponse(model, tuple(call(request)), id=request.id)
                body, length = encode_infer_response(response, request)
                await self.put(
                    self.topics.model_outputs(model), body, replace(env, header_length=length)
                )
                answered += 1
        return answered

    async def settle(self, models: Mapping[str, Model]) -> None:
        """Turn the worker and the models until neither has anything left to do."""
        for _ in range(50):
            fetched = await self.turn()
            answered = await self.play_models(models)
            if not fetched and not answered:
                return
        raise AssertionError("the dataflow did not settle")

    def answers(self, pipeline: str) -> list[tuple[Envelope, InferResponse]]:
        out = []
        for record in self.bus.records(self.topics.pipeline_outputs(pipeline)):
            env = envelope_of(record)
            out.append((env, decode_infer_response(record.value, env.header_length)))
        return out

    def errors(self) -> list[tuple[Envelope, ErrorRecord]]:
        return [
            (envelope_of(r), error_record(r.value)) for r in self.bus.records(self.topics.errors)
        ]

    def skips(self, model: str) -> list[Envelope]:
        found = (envelope_of(r) for r in self.bus.records(self.topics.model_outputs(model)))
        return [env for env in found if env.kind is Kind.SKIP]

    def outcome(self, name: str) -> float:
        labels = {"role": "dataflow", "outcome": name}
        return self.registry.get_sample_value("loadmaster_pipeline_records_total", labels) or 0.0

    def committed(self) -> dict[str, int]:
        """The group's committed offsets, summed per topic."""
        out: dict[str, int] = {}
        for tp, at in self.bus.committed.get(self.worker.group, {}).items():
            out[tp.topic] = out.get(tp.topic, 0) + at
        return out
