"""Starting phase by phase, and the all-or-nothing failure paths, with fake processes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from loadmaster.local_cluster.launcher import (
    Launcher,
    PartFailed,
    RunningPart,
    StartInterrupted,
    describe_exit,
)
from loadmaster.local_cluster.options import UpOptions
from loadmaster.local_cluster.parts import PartPlan
from loadmaster.local_cluster.plan import build_plan
from loadmaster.local_cluster.probes import Probe
from loadmaster.local_cluster.processes import Handle
from tests.loadmaster.local_cluster.fakes import Cast, FakeHandle


class Harness:
    """A launcher over fakes: `healthy_after[name]` probe calls before a part is healthy
    (absent: at once; None: never); `dies_after[name]` seconds after its spawn it exits."""

    def __init__(self) -> None:
        self.cast = Cast()
        self.healthy_after: dict[str, int | None] = {}
        self.dies_after: dict[str, float] = {}
        self.handles: dict[str, FakeHandle] = {}
        self.saved: list[list[str]] = []
        self.unstartable: set[str] = set()
        self.interrupt_at: float | None = None
        options = UpOptions(data_dir=Path("/d"), cwd=Path("/w"), agents=2, pipeline_workers=0)
        plan = build_plan(options, [1, 2, 3, 4], Path("/etcd"), Path("/tansu"))
        self.launcher = Launcher(
            plan,
            spawn=self.spawn,
            probe=self.probe,
            save=self.save,
            timeout_s=30,
            grace_s=5,
            clock=self.cast.clock,
            sleep=self.cast.clock.sleep,
            interrupted=self.interrupted,
        )

    def interrupted(self) -> bool:
        return self.interrupt_at is not None and self.cast.clock() >= self.interrupt_at

    def spawn(self, part: PartPlan) -> Handle:
        if part.name in self.unstartable:
            raise PermissionError(13, "Permission denied")
        self.cast.events.append(f"spawn {part.name}")
        died = self.dies_after.get(part.name)
        dies_at = None if died is None else self.cast.clock() + died
        handle = self.cast.handle(part.name, dies_at=dies_at)
        self.handles[part.name] = handle
        return handle

    def probe(self, part: PartPlan) -> Probe:
        calls = 0

        def check() -> str | None:
            nonlocal calls
            calls += 1
            needed = self.healthy_after.get(part.name, 1)
            if needed is None or calls < needed:
                return "not yet"
            self.cast.events.append(f"healthy {part.name}")
            return None

        return check

    def save(self, running: Sequence[RunningPart]) -> None:
        self.saved.append([r.plan.name for r in running])


def test_each_phase_starts_once_the_previous_one_is_healthy() -> None:
    h = Harness()
    h.healthy_after = {"etcd": 5, "scheduler": 3}
    running = h.launcher.start()
    assert [r.plan.name for r in running] == [
        "etcd", "kafka", "scheduler", "agent-1", "agent-2", "gateway",
    ]  # fmt: skip
    events = h.cast.events
    assert events.index("healthy etcd") < events.index("spawn scheduler")
    assert events.index("healthy kafka") < events.index("spawn scheduler")
    assert events.index("healthy scheduler") < events.index("spawn agent-1")
    assert events.index("spawn gateway") < events.index("healthy agent-1")  # same phase
    assert not any(e.startswith(("term", "kill")) for e in events)


def test_the_record_is_saved_after_every_phase_is_spawned() -> None:
    h = Harness()
    h.launcher.start()
    assert h.saved == [
        ["etcd", "kafka"],
        ["etcd", "kafka", "scheduler"],
        ["etcd", "kafka", "scheduler", "agent-1", "agent-2", "gateway"],
    ]


def test_a_part_that_exits_stops_everything_started_and_names_itself() -> None:
    h = Harness()
    h.healthy_after = {"agent-2": None}
    h.dies_after = {"agent-2": 1.0}
    with pytest.raises(PartFailed) as failed:
        h.launcher.start()
    assert failed.value.part == "agent-2"
    assert failed.value.reason == "exited (exit status 1)"
    terms = [e for e in h.cast.events if e.startswith("term")]
    assert terms == [
        "term gateway", "term agent-1", "term scheduler", "term kafka", "term etcd",
    ]  # fmt: skip
    assert all(not handle.running() for handle in h.handles.values())
    assert h.saved[-1] == []  # the record ends without pids


def test_a_part_never_healthy_fails_after_the_timeout_with_the_last_reason() -> None:
    h = Harness()
    h.healthy_after = {"scheduler": None}
    with pytest.raises(PartFailed) as failed:
        h.launcher.start()
    assert failed.value.part == "scheduler"
    assert failed.value.reason == "not healthy within 30s (not yet)"
    assert "spawn agent-1" not in h.cast.events
    assert all(not handle.running() for handle in h.handles.values())


def test_an_interrupt_during_start_stops_what_was_started() -> None:
    h = Harness()
    h.healthy_after = {"scheduler": None}
    h.interrupt_at = h.cast.clock() + 1
    with pytest.raises(StartInterrupted):
        h.launcher.start()
    assert {e for e in h.cast.events if e.startswith("term")} == {
        "term scheduler", "term kafka", "term etcd",
    }  # fmt: skip


def test_a_spawn_that_fails_is_a_failed_part() -> None:
    h = Harness()
    h.unstartable = {"kafka"}
    with pytest.raises(PartFailed, match=r"kafka: cannot start /tansu: .*Permission denied"):
        h.launcher.start()
    assert "term etcd" in h.cast.events


def test_stop_after_a_good_start_stops_everything_in_order() -> None:
    h = Harness()
    h.launcher.start()
    outcome = h.launcher.stop()
    assert outcome.stopped == ("gateway", "agent-1", "agent-2", "scheduler", "kafka", "etcd")
    assert h.launcher.running == []


def test_exits_are_described_for_people() -> None:
    assert describe_exit(1) == "exit status 1"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-99) == "killed by signal 99"
    assert describe_exit(None) == "exit status unknown"
