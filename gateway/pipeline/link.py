"""The gateway's connection to Kafka for pipelines, kept up in the background.

A gateway must start and serve models whatever the broker is doing, so nothing here runs on
the way up: `start` only launches a task that connects (producer, admin, the answer `Waiter`),
retrying with a growing pause while the broker is unreachable, and then follows the route
table. For each pipeline that is new (or whose spec changed) it makes sure the pipeline's topics
exist, then has the waiter read its output topic. Only then is the pipeline servable: a request
produced before the waiter's positions are fixed could have its answer slip past. Until then
`problem` says what is holding a pipeline back, for the 503.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping
from types import MappingProxyType

from gateway.pipeline.front_metrics import PipelineMetrics
from gateway.pipeline.table import PipelineEntry
from gateway.pipeline.topic_keeper import TopicKeeper
from gateway.pipeline.waiter import RETRY_FIRST_S, RETRY_MAX_S, Sleep, Waiter
from loadmaster import logs
from loadmaster.kafka.bus import Admin, Bus, BusError, Producer
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.topics import Topics
from loadmaster.resources.pipeline_spec import PipelineSpec

log = logs.get_logger("gateway.pipeline.link")

STOP_WAIT_S = 5.0  # a client that cannot reach the broker must not hold the shutdown up


class KafkaLink:
    def __init__(
        self,
        bus: Bus,
        config: KafkaConfig,
        metrics: PipelineMetrics,
        instance: str,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.topics = Topics.of(config)
        self.producer: Producer | None = None  # both set once connected
        self.waiter: Waiter | None = None
        self._bus = bus
        self._config = config
        self._metrics = metrics
        self._instance = instance
        self._sleep = sleep
        self._admin: Admin | None = None
        self._entries: Mapping[str, PipelineEntry] = MappingProxyType({})
        self._ensured: dict[str, PipelineSpec] = {}  # pipelines whose topics were made
        self._dropped: set[str] = set()  # left the table since the last sync
        self._watching: frozenset[str] | None = None
        self._servable: frozenset[str] = frozenset()
        self._problems: dict[str, str] = {}
        self._unreachable = ""
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep(), name="pipeline-kafka-link")

    def set_pipelines(self, entries: Mapping[str, PipelineEntry]) -> None:
        gone = set(self._entries) - set(entries)
        self._dropped |= gone
        self._servable = self._servable - gone
        self._entries = entries
        self._changed.set()

    def servable(self, name: str) -> bool:
        return name in self._servable

    def problem(self, name: str) -> str:
        """Why `name` is not servable yet, when known ("" while it is simply in progress)."""
        return self._unreachable or self._problems.get(name, "")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.waiter is not None:
            await _stopped(self.waiter.close())
        if self.producer is not None:
            await _stopped(self.producer.stop())
        if self._admin is not None:
            await _stopped(self._admin.stop())

    # ---- background ----------------------------------------------------------------------------

    async def _keep(self) -> None:
        delay = RETRY_FIRST_S
        while self.waiter is None:
            try:
                await self._connect()
            except Exception as exc:  # a BusError says which broker and why; others do not
                self._unreachable = (
                    str(exc)
                    if isinstance(exc, BusError)
                    else f"Kafka at {self._config.bootstrap} is unreachable: {exc}"
                )
                log.warning("cannot connect to Kafka", error=str(exc), retry_s=delay)
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        self._unreachable = ""
        log.info("pipelines connected to Kafka", bootstrap=self._config.bootstrap)
        delay = RETRY_FIRST_S
        while True:
            await self._changed.wait()
            self._changed.clear()
            if await self._sync():
                delay = RETRY_FIRST_S
                continue
            await self._sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            self._changed.set()

    async def _connect(self) -> None:
        client = f"lm-gateway-{self._instance}"
        admin, producer = self._bus.admin(client), self._bus.producer(client)
        waiter = Waiter(self._bus.tail_consumer(client), self.topics, self._instance, self._metrics)
        await admin.start()
        try:
            await producer.start()
            try:
                await waiter.start()
            except BaseException:
                await _stopped(producer.stop())
                raise
        except BaseException:
            await _stopped(admin.stop())
            raise
        self._admin, self.producer, self.waiter = admin, producer, waiter

    async def _sync(self) -> bool:
        """Make the topics of every new or changed pipeline, then watch the ones that have
        them; True when nothing failed (else the caller retries after a pause)."""
        assert self._admin is not None and self.waiter is not None
        for name in self._dropped:
            self._ensured.pop(name, None)
            self._problems.pop(name, None)
        self._dropped.clear()
        entries = self._entries
        keeper = TopicKeeper(
            self._admin, self.topics, self._config.partitions, self._config.replication_factor
        )
        failed = False
        for name, entry in entries.items():
            if self._ensured.get(name) == entry.spec:
                continue
            try:
                await keeper.ensure(entry.spec)
            except Exception as exc:
                failed = True
                self._problems[name] = f"its Kafka topics could not be made: {exc}"
                log.warning("pipeline topics not made", pipeline=name, error=str(exc))
                continue
            self._ensured[name] = entry.spec
            self._problems.pop(name, None)
        watched = frozenset(name for name in entries if name in self._ensured)
        if watched != self._watching and (watched or self._watching):
            try:
                await self.waiter.watch(watched)
            except Exception as exc:
                for name in watched:
                    self._problems[name] = f"its output topic could not be read: {exc}"
                log.warning("pipeline outputs not watched", error=str(exc))
                return False
            self._watching = watched
        # a pipeline that left the table while this ran waits for the next sync
        self._servable = frozenset(n for n in watched if n in self._entries) - self._dropped
        return not failed


async def _stopped(stopping: Awaitable[None]) -> None:
    """Await a client's stop, bounded, its failure only logged: the process is going away."""
    try:
        async with asyncio.timeout(STOP_WAIT_S):
            await stopping
    except Exception as exc:
        log.warning("Kafka client did not stop cleanly", error=str(exc))
