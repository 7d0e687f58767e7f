"""inspect_request: every record one pipeline request left in its pipeline's topics.

When a pipeline answers wrongly or not at all, the records say where it went astray: which
steps ran, what tensors each model got and gave, which step was skipped and why, what error a
model raised. Reading them needs no consumer group (nothing is committed, no worker is
disturbed): a tail consumer reads every topic of the pipeline from the beginning up to its
end as of now and keeps the records whose request header matches. The pipeline's own request
id (`x-pipeline-request-id`) matches `lm-request`; the caller's `x-request-id` matches
`lm-client-request`, so either may be given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from loadmaster.kafka import records
from loadmaster.kafka.bus import Bus, Record
from loadmaster.kafka.topics import Topics
from loadmaster.oip.errors import OIPError
from loadmaster.oip.rest_codec import decode_infer_request, decode_infer_response
from loadmaster.oip.types import Tensor
from loadmaster.resources.pipeline_spec import PipelineSpec

CLIENT_ID = "loadmaster-inspect"
FETCH_RECORDS = 500
FETCH_WAIT_MS = 200


@dataclass(frozen=True, slots=True)
class Seen:
    """One record of the request: where it lies, what kind it is, which step it is for or
    from (empty on the pipeline's own topics) and a one-line summary of its value."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    kind: str
    step: str
    summary: str


async def inspect_request(
    bus: Bus,
    topics: Topics,
    spec: PipelineSpec,
    request_id: str,
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> list[Seen]:
    """The records of `request_id` in the topics of `spec`, topic by topic in the order a
    request passes them, then by partition and offset. Topics that do not exist are skipped;
    a scan that has not reached the end within `timeout_s` returns what it found."""
    names = topics.of_pipeline(spec.name, spec.models)
    admin = bus.admin(CLIENT_ID)
    await admin.start()
    try:
        existing = await admin.list_topics()
    finally:
        await admin.stop()
    wanted = [name for name in names if name in existing]
    if not wanted:
        return []
    found = await _scan(bus, wanted, request_id, clock() + timeout_s, clock)
    order = {name: index for index, name in enumerate(names)}
    found.sort(key=lambda r: (order[r.topic], r.partition, r.offset))
    return [seen_of(r) for r in found]


async def _scan(
    bus: Bus, wanted: list[str], request_id: str, deadline: float, clock: Callable[[], float]
) -> list[Record]:
    consumer = bus.tail_consumer(CLIENT_ID)
    await consumer.start()
    found: list[Record] = []
    try:
        await consumer.assign(wanted, from_beginning=True)
        while not await consumer.end_reached():
            left_ms = int((deadline - clock()) * 1000)
            if left_ms <= 0:
                break
            batch = await consumer.fetch(FETCH_RECORDS, min(FETCH_WAIT_MS, left_ms))
            found += [r for r in batch if _of_request(r, request_id)]
    finally:
        await consumer.stop()
    return found


def _of_request(record: Record, request_id: str) -> bool:
    return request_id in (record.text(records.REQUEST), record.text(records.CLIENT_REQUEST))


def seen_of(record: Record) -> Seen:
    kind = record.text(records.KIND) or records.Kind.DATA.value
    step = record.text(records.STEP)
    if kind == records.Kind.ERROR:
        try:
            error = records.error_record(record.value)
        except records.BadRecord as exc:
            summary = str(exc)
        else:
            step = step or error.step
            model = f" (model {error.model})" if error.model else ""
            summary = f"status {error.status}{model}: {error.message}"
    elif kind == records.Kind.SKIP:
        summary = f"skipped: {record.text(records.REASON) or 'no reason given'}"
    else:
        summary = _data_summary(record)
    return Seen(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp_ms,
        kind=kind,
        step=step,
        summary=summary,
    )


def _data_summary(record: Record) -> str:
    """The tensors of a request (`.inputs` topics) or an answer (`.outputs` topics)."""
    length_text = record.text(records.HEADER_LENGTH)
    try:
        header_length = int(length_text) if length_text else None
        if record.topic.endswith(".inputs"):
            tensors = decode_infer_request(record.value, header_length, model="").inputs
        else:
            tensors = decode_infer_response(record.value, header_length).outputs
    except (OIPError, ValueError) as exc:
        return f"undecodable ({len(record.value)} bytes): {exc}"
    return "; ".join(_tensor_text(t) for t in tensors) or "no tensors"


def _tensor_text(tensor: Tensor) -> str:
    shape = ",".join(str(d) for d in tensor.shape)
    return f"{tensor.name} {tensor.datatype.value} [{shape}]"
