"""Liveness: which agents have gone silent for longer than the heartbeat timeout.

Time comes from an injected clock, so unit tests move it by hand instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class Liveness:
    def __init__(self, timeout_s: float, clock: Clock = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self.clock = clock
        self._last_seen: dict[str, float] = {}

    def beat(self, server: str) -> None:
        self._last_seen[server] = self.clock()

    def watch(self, server: str, extra_s: float = 0.0) -> None:
        """Start the timeout for a server not heard from yet (known from the store at start-up),
        `extra_s` later than now: agents reconnect with back-off after a scheduler restart."""
        self._last_seen.setdefault(server, self.clock() + extra_s)

    def forget(self, server: str) -> None:
        self._last_seen.pop(server, None)

    def expired(self) -> list[str]:
        """Servers silent past the timeout, by name; each is reported until forgotten."""
        deadline = self.clock() - self.timeout_s
        return sorted(name for name, seen in self._last_seen.items() if seen < deadline)

    def silent_for(self, server: str) -> float | None:
        seen = self._last_seen.get(server)
        return None if seen is None else self.clock() - seen
