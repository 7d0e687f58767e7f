from __future__ import annotations

import asyncio

from agent.inflight import InFlight


async def test_drained_waits_for_the_last_request() -> None:
    tracker = InFlight()
    release = asyncio.Event()

    async def request() -> None:
        with tracker.track("m:1"):
            await release.wait()

    task = asyncio.create_task(request())
    await asyncio.sleep(0)
    assert tracker.count("m:1") == 1
    assert not await tracker.drained("m:1", timeout_s=0.01)
    release.set()
    assert await tracker.drained("m:1", timeout_s=1)
    await task
    assert tracker.count("m:1") == 0


async def test_an_idle_key_is_drained_at_once() -> None:
    assert await InFlight().drained("unknown", timeout_s=0)
