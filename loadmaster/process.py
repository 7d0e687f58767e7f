"""What every service process does the same way: stop on a signal, run on the fastest loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any


def stop_on_signals(stop: asyncio.Event) -> asyncio.Event:
    """Set `stop` on SIGTERM or SIGINT, so a service shuts down cleanly instead of dying."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` to completion on uvloop when it is installed (it is a dependency)."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - stay usable without it
        pass
    asyncio.run(main)


def forget_signals() -> None:
    """Undo `stop_on_signals`, for a service run more than once in one process (tests)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)
