"""The dataflow worker: carries each pipeline request through its steps' joins over Kafka.

It is one member of the group `<prefix>.<ns>.dataflow` over `pipeline.<p>.inputs` and
`model.<m>.outputs` of every pipeline in the route table (any state: a request accepted while
the pipeline was ready must still finish). Every record of a request lands on the same
partition number of every topic, so one member sees all of a request's joins. The logic is
`DataflowEngine`'s; this class only moves records: fetch a batch, let the engine decide, send
what it made, and only then commit the batch's offsets (at-least-once: a crash before the
commit delivers the records again and the engine's de-duplication, or the model worker's,
absorbs the copies). Records that only added to a join are committed too: a crash then loses
the partial join and the request ends with the gateway's deadline error, as the design allows.

Join windows are checked on every turn of the loop, and an idle fetch waits no longer than
the next window's end, so a window is decided within a fetch wait of closing. It creates and
deletes no topics: the topic keeper makes them before the table reaches the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from gateway.pipeline.dataflow_effects import Emit
from gateway.pipeline.dataflow_engine import DataflowEngine
from gateway.pipeline.dataflow_memory import DEFAULT_CAPACITY
from gateway.pipeline.graph import GraphError, PipelineGraph, compile_pipeline
from gateway.pipeline.table import PipelineEntry
from gateway.pipeline.worker_metrics import WorkerMetrics
from loadmaster import logs
from loadmaster.kafka.bus import Bus, BusError, TopicPartition
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.topics import Topics

log = logs.get_logger("gateway.pipeline.dataflow")

ROLE = "dataflow"
FETCH_WAIT_MS = 100  # an idle fetch returns after this (or at the next window's end)
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
Sleep = Callable[[float], Awaitable[None]]


def _wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Work:
    """What one consumed record (or one window check, `position` None) still has to send;
    its offset may be committed once this and every earlier work has nothing left."""

    position: TopicPartition | None
    next_offset: int
    emits: list[Emit]


class DataflowWorker:
    """A `PipelineWorker`. Cancel `run`, then `close`: it sends what is pending, commits and
    leaves the group. `run_once` is one turn of the loop, for tests with a fake clock."""

    def __init__(
        self,
        bus: Bus,
        config: KafkaConfig,
        metrics: WorkerMetrics,
        *,
        client_id: str,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] | None = None,
        sleep: Sleep = asyncio.sleep,
        remember: int = DEFAULT_CAPACITY,
    ) -> None:
        self.group = f"{config.prefix}.{config.namespace}.dataflow"
        self._topics = Topics.of(config)
        self._metrics = metrics
        self._clock = clock
        self._wall_ms = wall_ms or _wall_ms
        self._sleep = sleep
        self._max_poll = max(config.max_poll_records, 1)
        self._engine = DataflowEngine(self._topics, remember=remember)
        self._producer = bus.producer(client_id)
        self._consumer = bus.group_consumer(self.group, client_id)
        self._compiled: dict[str, tuple[PipelineEntry, PipelineGraph | None]] = {}
        self._wanted: frozenset[str] = frozenset()
        self._subscribed: frozenset[str] | None = None
        self._changed = asyncio.Event()
        self._pending: deque[_Work] = deque()
        self._uncommitted: dict[TopicPartition, int] = {}
        self._started = False

    @property
    def subscribed(self) -> frozenset[str]:
        return self._subscribed or frozenset()

    @property
    def open_requests(self) -> int:
        """Requests with joins still open (for tests and debugging)."""
        return self._engine.open_requests

    # ---- PipelineWorker -----------------------------------------------------------------

    def set_pipelines(self, pipelines: Mapping[str, PipelineEntry]) -> None:
        compiled: dict[str, tuple[PipelineEntry, PipelineGraph | None]] = {}
        for name, entry in pipelines.items():
            before = self._compiled.get(name)
            if before is not None and before[0].spec == entry.spec:
                compiled[name] = (entry, before[1])
                continue
            try:
                compiled[name] = (entry, compile_pipeline(entry.spec))
            except GraphError as exc:
                log.error(
                    "pipeline cannot run; its records are dropped", pipeline=name, problem=str(exc)
                )
                compiled[name] = (entry, None)
        self._compiled = compiled
        graphs = {name: graph for name, (_, graph) in compiled.items() if graph is not None}
        self._engine.set_graphs(graphs)
        topics: set[str] = set()
        for name, (entry, _) in compiled.items():
            if name in graphs:
                topics.add(self._topics.pipeline_inputs(name))
                topics.update(self._topics.model_outputs(m) for m in entry.spec.models)
        if frozenset(topics) != self._wanted:
            self._wanted = frozenset(topics)
            self._changed.set()

    async def run(self) -> None:
        """Consume until cancelled; broker trouble is retried with back-off, never fatal."""
        delay = RETRY_FIRST_S
        while True:
            try:
                await self.run_once()
                delay = RETRY_FIRST_S
            except BusError as exc:
                log.warning("kafka failed; retrying", group=self.group, problem=str(exc))
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        with contextlib.suppress(BusError):
            await self._flush()
        for part in (self._consumer, self._producer):
            try:
                await part.stop()
            except BusError as exc:
                log.warning("stopping a kafka client failed", group=self.group, problem=str(exc))

    # ---- one turn -----------------------------------------------------------------------

    async def run_once(self, timeout_ms: int | None = None) -> int:
        """Send what is pending, fetch a batch (waiting at most `timeout_ms`, by default until
        the next window's end or FETCH_WAIT_MS), handle it, decide the windows that ended,
        send, commit. Returns the number of records fetched; raises BusError when the broker
        failed (what is unsent stays pending for the next turn)."""
        await self._start()
        if self._pending or self._uncommitted:
            await self._flush()
        await self._follow_subscription()
        wait_ms = self._wait_ms() if timeout_ms is None else timeout_ms
        if not self._subscribed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait_ms / 1000)
            return 0
        records = await self._consumer.fetch(self._max_poll, wait_ms)
        self._metrics.record_lag(self.group, self._consumer.lag())
        now, now_ms = self._clock(), self._wall_ms()
        for record in records:
            age_s = max(now_ms - record.timestamp_ms, 0) / 1000
            self._metrics.consume_seconds.labels(record.topic).observe(age_s)
            handled = self._engine.handle(record, now, now_ms)
            self._metrics.records.labels(ROLE, handled.outcome.value).inc()
            self._pending.append(_Work(record.position, record.offset + 1, list(handled.emits)))
        expired = self._engine.expire(self._clock(), self._wall_ms())
        if expired:
            self._pending.append(_Work(None, 0, expired))
        await self._flush()
        return len(records)

    async def _start(self) -> None:
        if not self._started:
            await self._producer.start()
            await self._consumer.start()
            self._started = True

    async def _follow_subscription(self) -> None:
        if self._subscribed == self._wanted:
            return
        self._changed.clear()
        wanted = self._wanted
        if wanted or self._subscribed:
            await self._consumer.subscribe(wanted)
        self._subscribed = wanted
        log.info("subscribed", group=self.group, topics=sorted(wanted))

    def _wait_ms(self) -> int:
        ends = self._engine.next_window()
        if ends is None:
            return FETCH_WAIT_MS
        return max(0, min(FETCH_WAIT_MS, int((ends - self._clock()) * 1000) + 1))

    async def _flush(self) -> None:
        """Send every pending record at once; commit the offsets of the works whose records
        are all acknowledged, in consumption order. Raises BusError if any send failed."""
        now_ms = self._wall_ms()
        works = list(self._pending)
        for work in works:  # past its deadline nobody waits for it: the gateway answered
            work.emits = [emit for emit in work.emits if emit.deadline_ms > now_ms]
        jobs = [(work, emit) for work in works for emit in work.emits]
        sent = await asyncio.gather(*(self._send(emit) for _, emit in jobs))
        left: dict[int, list[Emit]] = {id(work): [] for work in works}
        for (work, emit), ok in zip(jobs, sent, strict=True):
            if not ok:
                left[id(work)].append(emit)
        for work in works:
            work.emits = left[id(work)]
        while self._pending and not self._pending[0].emits:
            done = self._pending.popleft()
            if done.position is not None:
                self._uncommitted[done.position] = done.next_offset
        if self._uncommitted:
            offsets, self._uncommitted = self._uncommitted, {}
            try:
                await self._consumer.commit(offsets)
            except BusError:
                self._uncommitted = {**offsets, **self._uncommitted}
                raise
        unsent = sum(len(work.emits) for work in self._pending)
        if unsent:
            raise BusError(f"{unsent} records not acknowledged by the broker; retrying")

    async def _send(self, emit: Emit) -> bool:
        started = time.perf_counter()
        try:
            await self._producer.send(emit.topic, emit.value, key=emit.key, headers=emit.headers)
        except BusError as exc:
            log.warning("produce failed", topic=emit.topic, problem=str(exc))
            return False
        self._metrics.produce_seconds.labels(emit.topic).observe(time.perf_counter() - started)
        return True
