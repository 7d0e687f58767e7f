"""The dataflow worker: carries each pipeline request through its steps' joins over Kafka.

It is one member of the group `<prefix>.<ns>.dataflow` over `pipeline.<p>.inputs` and
`model.<m>.outputs` of every pipeline in the route table (any state: a request accepted while
the pipeline was ready must still finish). Every record of a request lands on the same
partition number of every topic, so one member sees all of a request's joins. The logic is
`DataflowEngine`'s; this class only moves records: fetch a batch, let the engine decide, start
sending what it made, and fetch on while the broker acknowledges (`SendQueue`). A record's
offset is committed, in the background, only once what it caused was acknowledged
(at-least-once: a crash before the commit delivers the records again and the engine's
de-duplication, or the model worker's, absorbs the copies). Records that only added to a join
are committed too: a crash then loses the partial join and the request ends with the gateway's
deadline error, as the design allows.

Join windows are checked on every turn of the loop, and an idle fetch waits no longer than
the next window's end, so a window is decided within a fetch wait of closing. It creates and
deletes no topics: the topic keeper makes them before the table reaches the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping

from gateway.pipeline.dataflow_effects import Emit
from gateway.pipeline.dataflow_engine import DataflowEngine
from gateway.pipeline.dataflow_memory import DEFAULT_CAPACITY
from gateway.pipeline.dataflow_sends import SendQueue
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
MAX_UNFINISHED = 2_000  # consumed records whose sends are not all acknowledged: fetch waits
Sleep = Callable[[float], Awaitable[None]]


def _wall_ms() -> int:
    return int(time.time() * 1000)


class DataflowWorker:
    """A `PipelineWorker`. Cancel `run`, then `close`: it sends what is pending, commits and
    leaves the group. `run_once` is one turn of the loop that also waits for its sends and
    commits them, for tests with a fake clock."""

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
        self._sends = SendQueue(self._send, self._wall_ms)
        self._uncommitted: dict[TopicPartition, int] = {}
        self._committing: asyncio.Task[None] | None = None
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
                await self._turn()
                delay = RETRY_FIRST_S
            except BusError as exc:
                log.warning("kafka failed; retrying", group=self.group, problem=str(exc))
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        self._sends.retry()
        with contextlib.suppress(BusError):
            await self._flush()
        self._sends.cancel()
        for part in (self._consumer, self._producer):
            try:
                await part.stop()
            except BusError as exc:
                log.warning("stopping a kafka client failed", group=self.group, problem=str(exc))

    # ---- one turn -----------------------------------------------------------------------

    async def run_once(self, timeout_ms: int | None = None) -> int:
        """One turn (see `_turn`), then wait until what was sent is acknowledged and its
        offsets committed. Returns the number of records fetched; raises BusError when the
        broker failed (what is unsent goes again on the next turn)."""
        fetched = await self._turn(timeout_ms)
        await self._flush()
        return fetched

    async def _turn(self, timeout_ms: int | None = None) -> int:
        """Send again what failed, take what was acknowledged (committing it in the
        background), fetch a batch (waiting at most `timeout_ms`, by default until the next
        window's end or FETCH_WAIT_MS), handle it, decide the windows that ended and start
        sending what that made, without waiting for it."""
        await self._start()
        self._sends.retry()
        failed = self._take_finished()
        if self._subscribed != self._wanted:
            await self._flush()  # what finished is committed before the rebalance rewinds
            await self._follow_subscription()
        while len(self._sends) >= MAX_UNFINISHED and not failed:
            await self._sends.wait_oldest()
            failed += self._take_finished()
        if failed:
            raise BusError(f"{failed} records not acknowledged by the broker; retrying")
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
            self._sends.add(record.position, record.offset + 1, list(handled.emits))
        expired = self._engine.expire(self._clock(), self._wall_ms())
        if expired:
            self._sends.add(None, 0, expired)
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

    # ---- acknowledgements and commits -----------------------------------------------------

    def _take_finished(self) -> int:
        """Note the offsets whose effects were all acknowledged and start committing them;
        returns how many sends failed (they go again on the next turn)."""
        offsets, failed = self._sends.harvest()
        self._uncommitted.update(offsets)
        if self._uncommitted and (self._committing is None or self._committing.done()):
            offsets, self._uncommitted = self._uncommitted, {}
            self._committing = asyncio.create_task(self._commit_in_background(offsets))
        return failed

    async def _commit_in_background(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except BusError as exc:
            log.warning("commit failed; will retry", group=self.group, problem=str(exc))
            self._uncommitted = {**offsets, **self._uncommitted}

    async def _flush(self) -> None:
        """Wait for every send in flight and commit every offset they made committable.
        Raises BusError if a send failed or the commit did."""
        offsets, failed = await self._sends.drain()
        self._uncommitted.update(offsets)
        if self._committing is not None:
            await self._committing
            self._committing = None
        if self._uncommitted:
            offsets, self._uncommitted = self._uncommitted, {}
            try:
                await self._consumer.commit(offsets)
            except BusError:
                self._uncommitted = {**offsets, **self._uncommitted}
                raise
        if failed:
            raise BusError(f"{failed} records not acknowledged by the broker; retrying")

    async def _send(self, emit: Emit) -> bool:
        started = time.perf_counter()
        try:
            await self._producer.send(emit.topic, emit.value, key=emit.key, headers=emit.headers)
        except BusError as exc:
            log.warning("produce failed", topic=emit.topic, problem=str(exc))
            return False
        self._metrics.produce_seconds.labels(emit.topic).observe(time.perf_counter() - started)
        return True
