"""Experiment traffic counts and their reports to the scheduler."""

from __future__ import annotations

import grpc
import pytest

from gateway.traffic import TrafficCounts, TrafficReporter
from loadmaster.generated.scheduler.v1 import admin_pb2 as pb


def test_counts_are_cumulative_and_reported_in_order() -> None:
    counts = TrafficCounts()
    for model in ("b", "a", "a"):
        counts.count("ab", 3, model)
    counts.count("ab", 3, "m", mirror=True)
    report = counts.report("gw", "inst")
    assert (report.gateway, report.instance) == ("gw", "inst")
    assert [(t.model, t.requests, t.mirror, t.uid) for t in report.traffic] == [
        ("a", 2, False, 3),
        ("b", 1, False, 3),
        ("m", 1, True, 3),
    ]


def test_retain_keeps_only_live_experiment_uids() -> None:
    counts = TrafficCounts()
    counts.count("ab", 1, "a")
    counts.count("cd", 1, "c")
    counts.retain([("ab", 2), ("cd", 1)])
    assert [t.experiment for t in counts.report("g", "i").traffic] == ["cd"]


class Failure(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(
            grpc.StatusCode.UNAVAILABLE,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details="scheduler down",
        )


async def test_reporter_sends_changes_once_and_retries_a_failed_report() -> None:
    sent: list[pb.TrafficReport] = []
    fail = [True]

    async def send(report: pb.TrafficReport) -> None:
        if fail[0]:
            fail[0] = False
            raise Failure()
        sent.append(report)

    counts = TrafficCounts()
    reporter = TrafficReporter(counts, "gw", send, instance="i1")
    assert await reporter.report_once() is False  # nothing to say yet
    counts.count("ab", 1, "a")
    assert await reporter.report_once() is False  # failed: kept for the next round
    assert await reporter.report_once() is True
    assert await reporter.report_once() is False  # unchanged since
    assert [(r.instance, r.traffic[0].requests) for r in sent] == [("i1", 1)]


async def test_reporter_loop_uses_the_injected_sleep() -> None:
    sent: list[pb.TrafficReport] = []
    naps: list[float] = []

    async def send(report: pb.TrafficReport) -> None:
        sent.append(report)

    counts = TrafficCounts()
    counts.count("ab", 1, "a")

    async def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) > 2:
            raise RuntimeError("stop")

    reporter = TrafficReporter(counts, "gw", send, interval_s=0.25, sleep=sleep)
    with pytest.raises(RuntimeError):
        await reporter._run()
    assert naps == [0.25, 0.25, 0.25] and len(sent) == 1
