"""Changes: a counter that subscribers wait on, so a status stream wakes on any change.

Subscribers do not receive *what* changed: they recompute the statuses they follow and send
those that differ from what they last sent. That keeps one code path for the first answer and
every later one, and a slow subscriber simply skips intermediate states instead of queueing.
"""

from __future__ import annotations

import asyncio
import contextlib


class Changes:
    def __init__(self) -> None:
        self.generation = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait_after(self, generation: int, timeout_s: float | None = None) -> int:
        """Return the current generation once it is past `generation` (or the timeout passes)."""
        if self.generation == generation:
            event = self._event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout_s)
        return self.generation
