"""The dataflow worker's records in flight: sent at once, acknowledged while it fetches on.

A consumed record becomes a work: the records it caused (`Emit`s), whose sends start the
moment the record is handled, and the offset to commit once they are acknowledged. The queue
keeps works in consumption order, and an offset becomes committable only when its work and
every earlier one has nothing left to send, so a crash delivers again anything whose effects
were not acknowledged (at-least-once). Nothing here blocks the worker's loop: `harvest` takes
what finished, `retry` sends again what failed (dropping what is past its deadline: the gateway
has answered already), and `drain` waits for everything in flight.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway.pipeline.dataflow_effects import Emit
from loadmaster.kafka.bus import TopicPartition

Send = Callable[[Emit], Awaitable[bool]]  # True once acknowledged; False when refused


@dataclass(slots=True)
class _Work:
    """One consumed record (or one window check, `position` None) and its sends."""

    position: TopicPartition | None
    next_offset: int
    sending: list[tuple[Emit, asyncio.Future[bool]]] = field(default_factory=list)
    failed: list[Emit] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return not self.failed and all(task.done() for _, task in self.sending)


class SendQueue:
    def __init__(self, send: Send, wall_ms: Callable[[], int]) -> None:
        self._send = send
        self._wall_ms = wall_ms
        self._works: deque[_Work] = deque()

    def __len__(self) -> int:
        """Works not yet committable."""
        return len(self._works)

    def add(self, position: TopicPartition | None, next_offset: int, emits: list[Emit]) -> None:
        """Start sending what a record caused; its offset waits for the acknowledgements."""
        work = _Work(position, next_offset)
        self._launch(work, emits)
        self._works.append(work)

    def harvest(self) -> tuple[dict[TopicPartition, int], int]:
        """Take the sends that finished: the offsets that became committable, and how many
        sends failed since the last harvest (they wait for `retry`)."""
        failed = 0
        for work in self._works:
            still: list[tuple[Emit, asyncio.Future[bool]]] = []
            for emit, task in work.sending:
                if not task.done():
                    still.append((emit, task))
                elif task.cancelled() or task.exception() is not None or not task.result():
                    work.failed.append(emit)
                    failed += 1
            work.sending = still
        offsets: dict[TopicPartition, int] = {}
        while self._works and self._works[0].finished:
            done = self._works.popleft()
            if done.position is not None:
                offsets[done.position] = done.next_offset
        return offsets, failed

    def retry(self) -> None:
        """Send again every record that failed, unless it is past its deadline."""
        for work in self._works:
            if work.failed:
                emits, work.failed = work.failed, []
                self._launch(work, emits)

    async def wait_oldest(self) -> None:
        """Until the oldest work's sends in flight are over (acknowledged or failed)."""
        if self._works:
            tasks = [task for _, task in self._works[0].sending]
            if tasks:
                await asyncio.wait(tasks)

    async def drain(self) -> tuple[dict[TopicPartition, int], int]:
        """Wait for every send in flight, then `harvest`."""
        tasks = [task for work in self._works for _, task in work.sending]
        if tasks:
            await asyncio.wait(tasks)
        return self.harvest()

    def cancel(self) -> None:
        """Stop every send in flight (the worker is going away without them)."""
        for work in self._works:
            for _, task in work.sending:
                task.cancel()

    def _launch(self, work: _Work, emits: list[Emit]) -> None:
        now_ms = self._wall_ms()
        for emit in emits:
            if emit.deadline_ms > now_ms:  # past it nobody waits: the gateway answered
                work.sending.append((emit, asyncio.ensure_future(self._send(emit))))
