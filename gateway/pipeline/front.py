"""The pipeline gateway: one inference through a pipeline, as a request record and its answer.

`infer` produces the client's body, untouched, to `pipeline.P.inputs` under a fresh request id
(a uuid4, never the client's: two callers sending the same `x-request-id` must never receive
each other's answers; the client's id travels in the envelope for `pipeline inspect`), then
waits for that id on the pipeline's output topic or the errors topic. Every request has a
deadline, the client's when it is shorter than the gateway's default, carried in the record as
wall-clock milliseconds so workers drop what nobody waits for any more. A client that leaves
cancels the wait, and its request id is forgotten.

Everything that would make the request fail in Kafka is checked before producing: a pipeline
that is unknown (404), not ready (503 with the scheduler's reason), still starting here (503),
and a body that is not an inference request (400 with the codec's message).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from types import MappingProxyType

from gateway.pipeline.front_metrics import UNKNOWN_PIPELINE, PipelineMetrics
from gateway.pipeline.link import KafkaLink
from gateway.pipeline.outcomes import (
    NEED_KAFKA,
    PipelineAnswer,
    PipelineError,
    PipelineStatus,
    from_error_record,
)
from gateway.pipeline.table import PipelineEntry
from gateway.pipeline.waiter import Sleep
from loadmaster.kafka.bus import Bus, BusError
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.records import Envelope, ErrorRecord
from loadmaster.oip import errors, rest_codec
from loadmaster.oip.types import InferRequest


class PipelineFront:
    def __init__(
        self,
        bus: Bus | None,
        config: KafkaConfig | None,
        metrics: PipelineMetrics,
        *,
        instance: str,
        default_timeout_s: float,
        wall_clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 0 < default_timeout_s < float("inf"):
            raise ValueError(f"the pipeline timeout must be positive, got {default_timeout_s}")
        self.metrics = metrics
        self.instance = instance
        self.default_timeout_ms = max(round(default_timeout_s * 1000), 1)
        self._wall_clock = wall_clock
        self._entries: Mapping[str, PipelineEntry] = MappingProxyType({})
        self._link = (
            KafkaLink(bus, config, metrics, instance, sleep=sleep)
            if bus is not None and config is not None
            else None
        )

    async def start(self) -> None:
        """Connect in the background: the gateway serves models whatever Kafka is doing."""
        if self._link is not None:
            self._link.start()

    async def close(self) -> None:
        if self._link is not None:
            await self._link.close()

    def set_pipelines(self, pipelines: Mapping[str, PipelineEntry]) -> None:
        """The pipelines of a new route table (any state); called for every table."""
        self._entries = pipelines
        if self._link is not None:
            self._link.set_pipelines(pipelines)

    @property
    def waiting(self) -> int:
        """Requests produced and waiting for their answer now."""
        waiter = self._link.waiter if self._link is not None else None
        return waiter.waiting if waiter is not None else 0

    def label(self, name: str) -> str:
        """`name` as a metrics label: only pipelines in the table, so clients cannot grow it."""
        return name if name in self._entries else UNKNOWN_PIPELINE

    def status(self, name: str) -> PipelineStatus | None:
        """The pipeline `name` as the gateway sees it; None when the table has no such one."""
        entry = self._entries.get(name)
        if entry is None:
            return None
        try:
            self._servable(name, "")
        except PipelineError as exc:
            return PipelineStatus(
                name, entry.version, entry.state, entry.reason, False, exc.message
            )
        return PipelineStatus(name, entry.version, entry.state, entry.reason, True)

    async def infer(
        self,
        name: str,
        body: bytes,
        header_length: int | None,
        *,
        timeout_ms: int | None,
        client_request_id: str,
    ) -> PipelineAnswer:
        """The pipeline's answer to `body`; raises PipelineError for every other outcome.

        `timeout_ms` is the client's own deadline (x-request-timeout-ms, a gRPC deadline), or
        None; the request waits the shorter of it and the gateway's default.
        """
        rid = uuid.uuid4().hex
        entry = self._servable(name, rid)
        assert self._link is not None and self._link.producer and self._link.waiter
        try:
            request = rest_codec.decode_infer_request(body, header_length, name)
        except errors.OIPError as exc:
            raise PipelineError(
                exc.http_status, exc.message, pipeline=name, request_id=rid
            ) from None
        limit_ms = self.default_timeout_ms
        if timeout_ms is not None:
            limit_ms = max(min(limit_ms, timeout_ms), 1)
        envelope = Envelope(
            request=rid,
            pipeline=name,
            deadline_ms=int(self._wall_clock() * 1000) + limit_ms,
            gateway=self.instance,
            header_length=header_length,
            client_request=client_request_id,
            pipeline_version=entry.version,
        )
        waiter, producer = self._link.waiter, self._link.producer
        future = waiter.expect(rid)
        try:
            async with asyncio.timeout(limit_ms / 1000):
                started = time.perf_counter()
                try:
                    await producer.send(
                        self._link.topics.pipeline_inputs(name),
                        body,
                        key=rid.encode(),
                        headers=envelope.headers(),
                    )
                except BusError as exc:
                    raise PipelineError(
                        503,
                        f"pipeline '{name}': the request could not be sent to Kafka: {exc}",
                        pipeline=name,
                        request_id=rid,
                    ) from None
                self.metrics.produced(name, time.perf_counter() - started)
                answer = await future
        except TimeoutError:
            raise PipelineError(
                504,
                f"pipeline '{name}': no answer within {limit_ms} ms (request id {rid})",
                pipeline=name,
                request_id=rid,
            ) from None
        finally:
            waiter.forget(rid)
        if isinstance(answer, ErrorRecord):
            raise from_error_record(name, rid, answer)
        return _as_asked(name, rid, answer.body, answer.header_length, request)

    def _servable(self, name: str, rid: str) -> PipelineEntry:
        """The entry of `name` when a request for it can be produced now; else PipelineError
        with the 404 or 503 that says why."""

        def refused(status: int, message: str) -> PipelineError:
            return PipelineError(status, message, pipeline=name, request_id=rid)

        if self._link is None:
            raise refused(503, NEED_KAFKA)
        entry = self._entries.get(name)
        if entry is None:
            raise refused(404, f"pipeline '{name}' not found")
        if not entry.ready:
            raise refused(503, f"pipeline '{name}' is not ready: {entry.why_unavailable()}")
        if not self._link.servable(name):
            problem = self._link.problem(name)
            raise refused(
                503, f"pipeline '{name}' is starting" + (f": {problem}" if problem else "")
            )
        return entry


def _as_asked(
    name: str, rid: str, body: bytes, header_length: int | None, request: InferRequest
) -> PipelineAnswer:
    """The answer encoded as the caller asked: the outputs it named, binary only where it asked
    for binary (the dataflow writes every output binary, which a JSON client cannot read)."""
    try:
        response = rest_codec.decode_infer_response(body, header_length)
        encoded, length = rest_codec.encode_infer_response(response, request)
    except errors.OIPError as exc:
        raise PipelineError(exc.http_status, exc.message, pipeline=name, request_id=rid) from None
    return PipelineAnswer(encoded, length, rid)
