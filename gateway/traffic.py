"""What the gateway routed for each experiment, and reporting it to the scheduler.

`loadmaster experiment status` shows the split actually observed. The scheduler sees no
traffic, so every gateway keeps cumulative counts per experiment candidate (and mirror) and
sends them every `interval_s`; the scheduler sums the latest report of each gateway instance.
Counts are cumulative, so a lost report loses nothing but freshness, and they are kept per
experiment uid, so a restarted experiment starts from zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import grpc

from loadmaster import logs
from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc

log = logs.get_logger("gateway.traffic")

Sleep = Callable[[float], Awaitable[None]]
Send = Callable[[pb.TrafficReport], Awaitable[None]]
REPORT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class TrafficKey:
    experiment: str
    uid: int
    model: str
    mirror: bool


class TrafficCounts:
    """Cumulative request counts by experiment, uid, model and role."""

    def __init__(self) -> None:
        self._counts: dict[TrafficKey, int] = {}
        self.changed = False

    def count(self, experiment: str, uid: int, model: str, mirror: bool = False) -> None:
        key = TrafficKey(experiment, uid, model, mirror)
        self._counts[key] = self._counts.get(key, 0) + 1
        self.changed = True

    def get(self, experiment: str, uid: int, model: str, mirror: bool = False) -> int:
        return self._counts.get(TrafficKey(experiment, uid, model, mirror), 0)

    def retain(self, live: Iterable[tuple[str, int]]) -> None:
        """Forget experiments that left the table (or were restarted under a new uid)."""
        keep = set(live)
        self._counts = {k: n for k, n in self._counts.items() if (k.experiment, k.uid) in keep}

    def report(self, gateway: str, instance: str) -> pb.TrafficReport:
        lines = [
            pb.ExperimentTraffic(
                experiment=k.experiment, uid=k.uid, model=k.model, requests=n, mirror=k.mirror
            )
            for k, n in sorted(self._counts.items(), key=lambda item: _order(item[0]))
        ]
        return pb.TrafficReport(gateway=gateway, instance=instance, traffic=lines)


def _order(key: TrafficKey) -> tuple[str, int, str, bool]:
    return (key.experiment, key.uid, key.model, key.mirror)


def scheduler_sender(address: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    """A `Send` over one channel to the scheduler, and the function that closes it."""
    channel = grpc.aio.insecure_channel(address)
    stub: admin_pb2_grpc.SchedulerAdminAsyncStub = admin_pb2_grpc.SchedulerAdminStub(channel)

    async def send(report: pb.TrafficReport) -> None:
        await stub.ReportTraffic(report, timeout=REPORT_TIMEOUT_S)

    return send, channel.close


class TrafficReporter:
    """Sends the counts every `interval_s` while there is something new to say.

    A failed report is logged and tried again next time; reporting never holds up routing.
    """

    def __init__(
        self,
        counts: TrafficCounts,
        gateway: str,
        send: Send,
        interval_s: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        instance: str | None = None,
    ) -> None:
        self.counts = counts
        self.gateway = gateway
        self.instance = instance or uuid.uuid4().hex
        self._send = send
        self._interval_s = interval_s
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gateway-traffic-reporter")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def report_once(self) -> bool:
        """Send the counts if they changed since the last report that got through."""
        if not self.counts.changed:
            return False
        self.counts.changed = False
        try:
            await self._send(self.counts.report(self.gateway, self.instance))
        except grpc.aio.AioRpcError as exc:
            self.counts.changed = True
            log.warning("traffic report failed", problem=f"{exc.code().name}: {exc.details()}")
            return False
        self.sent += 1
        return True

    async def _run(self) -> None:
        while True:
            await self._sleep(self._interval_s)
            await self.report_once()
