"""The foreground watch: a signal ends it, a dying part ends it and is named."""

from __future__ import annotations

import os
import signal

from loadmaster.local_cluster.launcher import RunningPart
from loadmaster.local_cluster.parts import PartKind, PartPlan
from loadmaster.local_cluster.supervisor import StopSignals, supervise
from tests.loadmaster.local_cluster.fakes import Cast


def _running(cast: Cast, name: str, dies_at: float | None = None) -> RunningPart:
    return RunningPart(PartPlan(name, PartKind.AGENT, ()), cast.handle(name, dies_at=dies_at))


def test_a_part_that_dies_ends_the_watch_and_is_returned() -> None:
    cast = Cast()
    parts = [_running(cast, "agent-1"), _running(cast, "agent-2", dies_at=cast.clock() + 5)]
    died = supervise(parts, lambda: False, cast.clock.sleep)
    assert died is parts[1]


def test_a_stop_request_ends_the_watch_with_nothing_dead() -> None:
    cast = Cast()
    parts = [_running(cast, "agent-1")]
    assert supervise(parts, lambda: cast.clock.slept > 2, cast.clock.sleep) is None


def test_stop_signals_count_and_restore_the_previous_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    signals = StopSignals()
    signals.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.requested() and not signals.hurried()
        signals.receive(signal.SIGINT)
        assert signals.hurried()
        assert signals.last == signal.SIGINT
    finally:
        signals.uninstall()
    assert signal.getsignal(signal.SIGTERM) == before
