"""Copies of requests to an experiment's mirror: sent in the background, answers discarded.

A mirror is for watching a model under real traffic without clients depending on it, so
nothing about it may reach the client: the copy is sent after the request was routed, its
answer and its failures are only counted, and at most `max_in_flight` copies run at once
(beyond that a copy is dropped and counted), so a slow mirror cannot pile up memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from gateway.metrics import GatewayMetrics
from loadmaster import logs

log = logs.get_logger("gateway.mirror")

MAX_IN_FLIGHT = 256


class Mirrorer:
    def __init__(self, metrics: GatewayMetrics, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def fire(self, experiment: str, model: str, send: Callable[[], Awaitable[object]]) -> None:
        """Start `send` in the background, or drop it when too many copies are running."""
        if len(self._tasks) >= self.max_in_flight:
            self.metrics.mirrored.labels(experiment, model, "dropped").inc()
            return
        task = asyncio.create_task(self._run(experiment, model, send))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, experiment: str, model: str, send: Callable[[], Awaitable[object]]
    ) -> None:
        outcome = "sent"
        try:
            await send()
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as exc:  # the mirror's failure is counted, never the client's
            outcome = "failed"
            log.debug("mirror copy failed", experiment=experiment, model=model, problem=str(exc))
        finally:
            self.metrics.mirrored.labels(experiment, model, outcome).inc()

    async def close(self) -> None:
        tasks, self._tasks = set(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
