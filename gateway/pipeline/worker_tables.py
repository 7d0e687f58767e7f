"""What a pipeline-worker process does with each route table: topics first, then the workers.

The route follower calls back synchronously for every table, while creating topics takes a
round trip to the broker, so tables are handed over with `offer` and applied by one task:
tables that arrive while one is applied collapse into the latest, which is all that matters.

A table is applied in this order, as the pipeline contracts require: the topics of every
pipeline exist (`ensure`; the keeper remembers what it made, so this costs a broker call only
for new or changed pipelines), then every worker gets the pipelines, then (when this process
runs a dataflow worker) the topics of pipelines that left are retired; a process that does
not retire makes the keeper forget them instead, so they are asked for again if they return.
A table equal to the one applied (a replica moved) costs nothing. If a topic cannot be
ensured, the workers keep the previous table and the latest one is tried again after a
back-off: a worker never subscribes ahead of its topics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from gateway.pipeline.table import PipelineEntry
from gateway.pipeline.worker import PipelineWorker
from loadmaster import logs
from loadmaster.resources.pipeline_spec import PipelineSpec

log = logs.get_logger("gateway.pipeline.tables")

Pipelines = Mapping[str, PipelineEntry]
Sleep = Callable[[float], Awaitable[None]]
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


class Keeper(Protocol):
    """The part of `topic_keeper.TopicKeeper` a worker process uses."""

    async def ensure(self, spec: PipelineSpec) -> None: ...

    async def retire(self, before: Pipelines, after: Pipelines) -> None: ...

    def forget(self, before: Pipelines, after: Pipelines) -> None: ...


class WorkerTables:
    def __init__(
        self,
        keeper: Keeper,
        workers: Sequence[PipelineWorker],
        *,
        retire: bool,
        prepare: Callable[[], Awaitable[None]] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`prepare` runs once before the first table (starting the admin client), retried
        like a table until it succeeds."""
        self._keeper = keeper
        self._workers = tuple(workers)
        self._retire = retire
        self._prepare = prepare
        self._sleep = sleep
        self._latest: dict[str, PipelineEntry] | None = None
        self._offered = asyncio.Event()
        self._applied: dict[str, PipelineEntry] | None = None
        self._unretired: dict[str, PipelineEntry] | None = None  # applied, not yet retired
        self.prepared = False

    @property
    def applied(self) -> Pipelines | None:
        """The pipelines the workers have now; None before the first table."""
        return self._applied

    def offer(self, pipelines: Pipelines) -> None:
        """Hand over a table's pipelines (from the route follower's callback)."""
        self._latest = dict(pipelines)
        self._offered.set()

    async def run(self) -> None:
        """Apply offered tables until cancelled."""
        delay = RETRY_FIRST_S
        while True:
            await self._offered.wait()
            self._offered.clear()
            latest = self._latest
            if latest is None:
                continue
            try:
                await self.apply(latest)
                delay = RETRY_FIRST_S
            except Exception as exc:  # the broker is down or refuses: keep the old table
                log.warning(
                    "cannot apply the pipelines; retrying",
                    problem=f"{type(exc).__name__}: {exc}",
                    retry_in_s=delay,
                )
                self._offered.set()
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def apply(self, pipelines: Pipelines) -> None:
        """Ensure topics, hand the pipelines to every worker, retire what left."""
        if not self.prepared and self._prepare is not None:
            await self._prepare()
        self.prepared = True
        current = dict(pipelines)
        if current != self._applied:
            before = self._applied or {}
            if not self._retire:
                self._keeper.forget(before, current)
            for entry in current.values():
                await self._keeper.ensure(entry.spec)
            for worker in self._workers:
                worker.set_pipelines(current)
            if self._retire and (before or self._unretired):
                # what an earlier, failed retire left is retired too, as it was then
                self._unretired = {**before, **(self._unretired or {})}
            self._applied = current
            log.info("pipelines applied", pipelines=sorted(current))
        if self._unretired is not None:
            await self._keeper.retire(self._unretired, current)
            self._unretired = None
