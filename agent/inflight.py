"""Counts requests in flight per key, and lets a caller wait until a key has none left."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class InFlight:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._idle: dict[str, asyncio.Event] = {}

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)

    @contextlib.contextmanager
    def track(self, key: str) -> Iterator[None]:
        self._counts[key] = self._counts.get(key, 0) + 1
        self._idle.setdefault(key, asyncio.Event()).clear()
        try:
            yield
        finally:
            self._counts[key] -= 1
            if self._counts[key] == 0:
                del self._counts[key]
                self._idle[key].set()

    async def drained(self, key: str, timeout_s: float) -> bool:
        """True once `key` has no request in flight; False if `timeout_s` passed first."""
        if self.count(key) == 0:
            return True
        try:
            await asyncio.wait_for(self._idle[key].wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def forget(self, key: str) -> None:
        if self.count(key) == 0:
            self._idle.pop(key, None)
