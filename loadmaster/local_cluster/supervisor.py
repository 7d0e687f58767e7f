"""The foreground `loadmaster up`: watch the parts until Ctrl-C, SIGTERM or a part dying.

Signals only set a flag that the start-up and watch loops read, so a signal can never land in
the middle of a spawn or a record write; the loops notice within a poll. The first signal asks
for an orderly stop; a second one skips the remaining grace periods (as `docker compose` does).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from types import FrameType

from loadmaster.local_cluster.launcher import RunningPart

POLL_S = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Counts SIGINT and SIGTERM while installed."""

    def __init__(self) -> None:
        self.count = 0
        self.last: int | None = None
        self._previous: dict[int, object] = {}

    def requested(self) -> bool:
        return self.count >= 1

    def hurried(self) -> bool:
        return self.count >= 2

    def receive(self, signum: int, frame: FrameType | None = None) -> None:
        self.count += 1
        self.last = signum

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self.receive)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()


def supervise(
    running: Sequence[RunningPart],
    stop_requested: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> RunningPart | None:
    """Block until a stop is requested (None) or a part exits on its own (that part)."""
    while not stop_requested():
        for part in running:
            if not part.handle.running():
                return part
        sleep(POLL_S)
    return None
