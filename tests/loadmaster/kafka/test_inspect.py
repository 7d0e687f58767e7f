"""inspect_request over the in-memory bus: which records of one request it finds, in which
order, and how each value is summarised."""

from __future__ import annotations

import itertools

import numpy as np
import orjson

from loadmaster.kafka.inspect import Seen, inspect_request
from loadmaster.kafka.memory_bus import MemoryBus
from loadmaster.kafka.records import Envelope, ErrorRecord, Kind
from loadmaster.kafka.topics import Topics
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.rest_codec import encode_infer_request
from loadmaster.oip.types import InferRequest, Tensor
from loadmaster.resources import PipelineSpec, PipelineStep

TOPICS = Topics("lm", "t")
SPEC = PipelineSpec(
    name="chain",
    steps=(
        PipelineStep("first", "double"),
        PipelineStep("second", "plus-one", inputs=("first.outputs.y",)),
    ),
)
X = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}
Y = {
    "model_name": "m",
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [2], "data": [1, 2]}],
}


async def _bus() -> MemoryBus:
    bus = MemoryBus()
    admin = bus.admin("test")
    await admin.create_topics(TOPICS.of_pipeline("chain", SPEC.models), partitions=3, replication=1)
    return bus


async def _send(
    bus: MemoryBus,
    topic: str,
    request: str,
    value: bytes,
    step: str = "",
    kind: Kind = Kind.DATA,
    *,
    client_request: str = "",
    header_length: int | None = None,
    reason: str = "",
) -> None:
    envelope = Envelope(
        request=request,
        pipeline="chain",
        deadline_ms=0,
        gateway="g",
        step=step,
        kind=kind,
        header_length=header_length,
        reason=reason,
        client_request=client_request,
    )
    await bus.producer("test").send(topic, value, key=request.encode(), headers=envelope.headers())


async def test_finds_the_records_of_one_request_topic_by_topic() -> None:
    bus = await _bus()
    x, y = orjson.dumps(X), orjson.dumps(Y)
    # written out of order, and mixed with another request's records
    await _send(bus, TOPICS.pipeline_outputs("chain"), "r1", y)
    await _send(bus, TOPICS.model_outputs("plus-one"), "r1", y, step="second")
    await _send(bus, TOPICS.pipeline_inputs("chain"), "other", x)
    await _send(bus, TOPICS.pipeline_inputs("chain"), "r1", x, client_request="client-7")
    await _send(bus, TOPICS.model_inputs("double"), "r1", x, step="first")
    await _send(bus, TOPICS.model_inputs("double"), "other", x, step="first")
    found = await inspect_request(bus, TOPICS, SPEC, "r1", timeout_s=5)
    assert [(s.topic, s.kind, s.step, s.summary) for s in found] == [
        ("lm.t.pipeline.chain.inputs", "data", "", "x FP32 [1,2]"),
        ("lm.t.model.double.inputs", "data", "first", "x FP32 [1,2]"),
        ("lm.t.model.plus-one.outputs", "data", "second", "y FP32 [2]"),
        ("lm.t.pipeline.chain.outputs", "data", "", "y FP32 [2]"),
    ]
    by_client = await inspect_request(bus, TOPICS, SPEC, "client-7", timeout_s=5)
    assert [s.topic for s in by_client] == ["lm.t.pipeline.chain.inputs"]
    first = found[0]
    assert isinstance(first, Seen) and first.offset >= 0 and first.timestamp_ms > 0


async def test_binary_bodies_skips_and_errors_are_summarised() -> None:
    bus = await _bus()
    tensor = Tensor("x", DataType.INT64, (3,), np.arange(3, dtype=np.int64))
    body, length = encode_infer_request(InferRequest(model="", inputs=(tensor,)), binary=True)
    assert length is not None
    await _send(bus, TOPICS.pipeline_inputs("chain"), "r", body, header_length=length)
    await _send(
        bus, TOPICS.model_outputs("plus-one"), "r", b"", step="second", kind=Kind.SKIP,
        reason="trigger first.outputs.go absent",
    )  # fmt: skip
    error = ErrorRecord("chain", "first", "double", 400, "negative values are not allowed")
    await _send(bus, TOPICS.errors, "r", error.to_json(), kind=Kind.ERROR)
    await _send(bus, TOPICS.model_outputs("double"), "r", b"{not json", step="first")
    found = await inspect_request(bus, TOPICS, SPEC, "r", timeout_s=5)
    assert [(s.kind, s.step, s.summary) for s in found] == [
        ("data", "", "x INT64 [3]"),
        ("data", "first", found[1].summary),
        ("skip", "second", "skipped: trigger first.outputs.go absent"),
        ("error", "first", "status 400 (model double): negative values are not allowed"),
    ]
    assert found[1].summary.startswith("undecodable (9 bytes): ")


async def test_missing_topics_are_skipped() -> None:
    bus = MemoryBus()
    await bus.admin("test").create_topics([TOPICS.pipeline_inputs("chain")], 1, 1)
    await _send(bus, TOPICS.pipeline_inputs("chain"), "r", orjson.dumps(X))
    found = await inspect_request(bus, TOPICS, SPEC, "r", timeout_s=5)
    assert [s.topic for s in found] == ["lm.t.pipeline.chain.inputs"]
    assert await inspect_request(MemoryBus(), TOPICS, SPEC, "r", timeout_s=5) == []


async def test_gives_up_at_the_timeout() -> None:
    bus = await _bus()
    await _send(bus, TOPICS.pipeline_inputs("chain"), "r", orjson.dumps(X))
    ticks = itertools.count(0, 10.0)  # every look at the clock is 10 s later
    found = await inspect_request(bus, TOPICS, SPEC, "r", timeout_s=5, clock=lambda: next(ticks))
    assert found == []  # the deadline passed before the first fetch
