"""A `sleep` the test releases by hand: retry pauses become steps a test takes, not waits."""

from __future__ import annotations

import asyncio


class ManualSleep:
    """A `sleep` that returns when the test says so, recording how long it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._go = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await self._go.wait()
        self._go.clear()

    def wake(self) -> None:
        self._go.set()
