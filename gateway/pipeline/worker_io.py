"""The consume-handle-produce-commit loop of a pipeline worker, apart from what a record means.

`WorkerIO` is one consumer-group member and one producer. It fetches while fewer than
`max_in_flight` records are being handled, runs `handle` for each record in its own task,
and commits offsets in batches through an `OffsetTracker`, so an offset is stored only after
the handler returned, and a handler returns only after what it produced was acknowledged
(`produce`). Broker trouble never ends the loop: starting, fetching, subscribing and
committing are retried with back-off, and a produce is retried until the record's deadline is
too close for another try (then the record is dropped: the gateway has answered already).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection

from gateway.pipeline.offsets import OffsetTracker, Ticket
from gateway.pipeline.worker_metrics import Outcome, WorkerMetrics
from loadmaster import logs
from loadmaster.kafka.bus import Bus, BusError, Record
from loadmaster.kafka.records import Envelope

log = logs.get_logger("gateway.pipeline.worker_io")


def wall_ms() -> int:
    """Unix time in milliseconds: record deadlines are absolute wall-clock times."""
    return int(time.time() * 1000)


Handler = Callable[[Record], Awaitable[Outcome]]
Sleep = Callable[[float], Awaitable[None]]


class WorkerIO:
    """One group member's records in and out; what a record means is `handle`'s business."""

    RETRY_FIRST_S = 0.05
    RETRY_MAX_S = 1.0
    RESTART_MAX_S = 5.0
    FETCH_WAIT_MS = 100  # a fetch returns as soon as records arrive; this bounds an idle wait

    def __init__(
        self,
        bus: Bus,
        group: str,
        client_id: str,
        metrics: WorkerMetrics,
        *,
        role: str,
        max_in_flight: int,
        max_poll_records: int,
        handle: Handler,
        clock: Callable[[], int] = wall_ms,
        sleep: Sleep = asyncio.sleep,
        commit_interval_s: float = 0.02,
    ) -> None:
        self.group = group
        self._producer = bus.producer(client_id)
        self._consumer = bus.group_consumer(group, client_id)
        self._metrics = metrics
        self._role = role
        self._max_in_flight = max_in_flight
        self._max_poll = max(max_poll_records, 1)
        self._handle = handle
        self._clock = clock
        self._sleep = sleep
        self._commit_interval_s = commit_interval_s
        self._wanted: frozenset[str] = frozenset()
        self._subscribed: frozenset[str] | None = None
        self._changed = asyncio.Event()
        self._tracker = OffsetTracker()
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._finished = asyncio.Event()
        self._producer_started = self._consumer_started = self._closed = False

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def subscribed(self) -> frozenset[str]:
        return self._subscribed or frozenset()

    def want(self, topics: Collection[str]) -> None:
        """Subscribe to `topics` from the next turn of the loop (an empty set: none)."""
        wanted = frozenset(topics)
        if wanted != self._wanted:
            self._wanted = wanted
            self._changed.set()

    async def run(self) -> None:
        """Consume until cancelled; records in flight go on (see `close`)."""
        await self._start()
        committer = asyncio.create_task(self._commit_loop(), name=f"{self.group}-commits")
        delay = self.RETRY_FIRST_S
        try:
            while True:
                try:
                    await self._turn()
                    delay = self.RETRY_FIRST_S
                except BusError as exc:
                    log.warning("kafka failed; retrying", group=self.group, problem=str(exc))
                    await self._sleep(delay)
                    delay = min(delay * 2, self.RESTART_MAX_S)
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer

    async def produce(self, topic: str, value: bytes, envelope: Envelope) -> bool:
        """Send one record keyed by its request; False when the broker refused it until the
        deadline was too close for another try (the record is dropped)."""
        delay = self.RETRY_FIRST_S
        key, headers = envelope.request.encode(), envelope.headers()
        while True:
            started = time.perf_counter()
            try:
                await self._producer.send(topic, value, key=key, headers=headers)
            except BusError as exc:
                if self._clock() + delay * 1000 >= envelope.deadline_ms:
                    log.warning(
                        "record dropped: not acknowledged by its deadline",
                        topic=topic,
                        request=envelope.request,
                        problem=str(exc),
                    )
                    return False
                log.warning("produce failed; retrying", topic=topic, problem=str(exc))
                await self._sleep(delay)
                delay = min(delay * 2, self.RETRY_MAX_S)
                continue
            self._metrics.produce_seconds.labels(topic).observe(time.perf_counter() - started)
            return True

    async def close(self, drain_s: float) -> None:
        """Let the records in flight finish for up to `drain_s`, cancel the rest, commit what
        finished, and leave the group (its partitions move to the other members at once)."""
        if self._closed:
            return
        self._closed = True
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=drain_s)
        left = list(self._tasks)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        if self._consumer_started:
            await self._commit()
            await self._stop("consumer", self._consumer.stop)
        if self._producer_started:
            await self._stop("producer", self._producer.stop)

    # ---- the loop -----------------------------------------------------------------------

    async def _start(self) -> None:
        delay = self.RETRY_FIRST_S
        while not self._consumer_started:
            try:
                if not self._producer_started:
                    await self._producer.start()
                    self._producer_started = True
                await self._consumer.start()
                self._consumer_started = True
            except BusError as exc:
                log.warning(
                    "cannot start the Kafka clients; retrying",
                    group=self.group,
                    problem=str(exc),
                    retry_in_s=delay,
                )
                await self._sleep(delay)
                delay = min(delay * 2, self.RESTART_MAX_S)

    async def _turn(self) -> None:
        if self._subscribed != self._wanted:
            self._changed.clear()
            wanted = self._wanted
            await self._commit()  # what finished, before the rebalance rewinds to the commits
            if wanted or self._subscribed:
                await self._consumer.subscribe(wanted)
                log.info("subscribed", group=self.group, topics=sorted(wanted))
            self._subscribed = wanted
            self._tracker.forget(self._tracker.partitions())
        if not self._subscribed:
            await self._changed.wait()
            return
        while len(self._tasks) >= self._max_in_flight:
            self._room.clear()
            await self._room.wait()
        room = self._max_in_flight - len(self._tasks)
        records = await self._consumer.fetch(min(room, self._max_poll), self.FETCH_WAIT_MS)
        revoked = self._tracker.partitions() - self._consumer.assigned()
        if revoked:
            self._tracker.forget(revoked)
        self._metrics.record_lag(self.group, self._consumer.lag())
        for record in records:
            ticket = self._tracker.start(record.position, record.offset)
            task = asyncio.create_task(self._one(record, ticket))
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    async def _one(self, record: Record, ticket: Ticket) -> None:
        try:
            outcome = await self._handle(record)
        except Exception:
            log.exception("a record failed", topic=record.topic, offset=record.offset)
            outcome = Outcome.FAILED
        self._metrics.records.labels(self._role, outcome.value).inc()
        self._tracker.finish(ticket)
        self._finished.set()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._room.set()

    # ---- commits ------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        delay = self.RETRY_FIRST_S
        while True:
            await self._finished.wait()
            if self._commit_interval_s > 0:
                await asyncio.sleep(self._commit_interval_s)  # let a batch gather
            self._finished.clear()
            if await self._commit():
                delay = self.RETRY_FIRST_S
            else:
                self._finished.set()
                await self._sleep(delay)
                delay = min(delay * 2, self.RETRY_MAX_S)

    async def _commit(self) -> bool:
        offsets = self._tracker.committable()
        if not offsets:
            return True
        try:
            await self._consumer.commit(offsets)
        except BusError as exc:
            log.warning("commit failed; will retry", group=self.group, problem=str(exc))
            return False
        self._tracker.committed(offsets)
        return True

    async def _stop(self, what: str, stop: Callable[[], Awaitable[None]]) -> None:
        try:
            await stop()
        except BusError as exc:
            log.warning(f"{what} did not stop cleanly", group=self.group, problem=str(exc))
