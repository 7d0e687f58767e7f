"""The gateway's side of a pipeline answer: read the output and errors topics, wake the caller.

A gateway produces a request to `pipeline.P.inputs` and some worker, some time later, writes
the answer (or an `ErrorRecord`) keyed by the same request id. The gateway that waits is not in
a consumer group: any partition may carry its answer, so one `TailConsumer` reads every
partition of the outputs of the pipelines it serves and of the errors topic, starting at their
end, and resolves the future registered under the answer's request id. Records for another
gateway instance (`lm-gateway`) are skipped; the first answer for a request wins, and any later
one (at-least-once delivery makes duplicates normal) is counted and dropped.

`watch` returns only once the consumer's positions are fixed, so a request produced after it
returns cannot have its answer slip past. A failed fetch (broker down) is logged and retried
with a growing pause; the loop never dies of it, and waiting callers simply run into their own
deadlines meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from gateway.pipeline.front_metrics import PipelineMetrics
from loadmaster import logs
from loadmaster.kafka.bus import Record, TailConsumer
from loadmaster.kafka.records import (
    BadRecord,
    Envelope,
    ErrorRecord,
    Kind,
    envelope_of,
    error_record,
)
from loadmaster.kafka.topics import Topics

log = logs.get_logger("gateway.pipeline.waiter")

FETCH_RECORDS = 500
FETCH_WAIT_MS = 100  # how long one fetch waits for a first record; answers end it at once
RETRY_FIRST_S, RETRY_MAX_S = 0.1, 5.0
REMEMBERED = 10_000  # settled request ids kept, to tell a duplicate answer from a late one
SKIPPED_STATUS = 400  # an output that was skipped: the request could not produce an answer

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reply:
    """A pipeline's answer: an OIP REST response body, binary when `header_length` is set."""

    body: bytes
    header_length: int | None = None


Answer = Reply | ErrorRecord


class Waiter:
    def __init__(
        self,
        consumer: TailConsumer,
        topics: Topics,
        instance: str,
        metrics: PipelineMetrics | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        fetch_wait_ms: int = FETCH_WAIT_MS,
    ) -> None:
        self.instance = instance
        self._consumer = consumer
        self._topics = topics
        self._metrics = metrics
        self._sleep = sleep
        self._fetch_wait_ms = fetch_wait_ms
        self._pending: dict[str, asyncio.Future[Answer]] = {}
        # request id -> why a further answer for it is ignored ("duplicate" or "late")
        self._settled: OrderedDict[str, str] = OrderedDict()
        self._lock = asyncio.Lock()  # assign and fetch never overlap on the consumer
        self._watched = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Requests waiting for an answer now."""
        return len(self._pending)

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="pipeline-waiter")

    async def watch(self, pipelines: Iterable[str]) -> None:
        """Read the outputs of `pipelines` (replacing the previous set) and the errors topic;
        returns once positions are fixed, so an answer to a request produced after this
        returns is seen."""
        names = {self._topics.pipeline_outputs(p) for p in pipelines} | {self._topics.errors}
        async with self._lock:
            await self._consumer.assign(sorted(names))
        self._watched.set()

    def expect(self, request_id: str) -> asyncio.Future[Answer]:
        """The future the answer to `request_id` will resolve; register it before producing."""
        if request_id in self._pending:
            raise ValueError(f"request id {request_id!r} is already waited for")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        """Stop waiting for `request_id` (answered, past its deadline, or the client left)."""
        future = self._pending.pop(request_id, None)
        if future is None:
            return
        future.cancel()
        self._settle(request_id, "late")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        with contextlib.suppress(Exception):
            await self._consumer.stop()

    # ---- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        await self._watched.wait()
        delay = RETRY_FIRST_S
        while True:
            try:
                async with self._lock:
                    records = await self._consumer.fetch(FETCH_RECORDS, self._fetch_wait_ms)
            except Exception as exc:  # BusError, or the client library's own
                log.warning("reading pipeline answers failed", error=str(exc), retry_s=delay)
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            delay = RETRY_FIRST_S
            for record in records:
                self.take(record)

    def take(self, record: Record) -> None:
        """Resolve the request `record` answers, if it is this instance's and still waiting."""
        try:
            envelope = envelope_of(record)
        except BadRecord as exc:
            self._ignore("bad", problem=str(exc))
            return
        if envelope.gateway != self.instance:
            return
        rid = envelope.request
        future = self._pending.pop(rid, None)
        if future is None:
            self._ignore(self._settled.get(rid, "late"), request_id=rid, topic=record.topic)
            return
        self._settle(rid, "duplicate")
        if not future.done():
            future.set_result(self._answer_of(record, envelope))

    def _answer_of(self, record: Record, envelope: Envelope) -> Answer:
        if record.topic == self._topics.errors or envelope.kind is Kind.ERROR:
            try:
                return error_record(record.value)
            except BadRecord as exc:
                return ErrorRecord(
                    envelope.pipeline, envelope.step, "", 500, f"unreadable error record: {exc}"
                )
        if envelope.kind is Kind.SKIP:
            why = envelope.reason or "every source was skipped"
            message = f"the pipeline produced no output ({why})"
            return ErrorRecord(envelope.pipeline, envelope.step, "", SKIPPED_STATUS, message)
        return Reply(record.value, envelope.header_length)

    def _settle(self, request_id: str, why_later_ignored: str) -> None:
        self._settled[request_id] = why_later_ignored
        if len(self._settled) > REMEMBERED:
            self._settled.popitem(last=False)

    def _ignore(self, reason: str, **fields: str) -> None:
        if self._metrics is not None:
            self._metrics.ignore(reason)
        log.debug("pipeline answer ignored", reason=reason, **fields)
