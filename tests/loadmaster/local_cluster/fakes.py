"""Fakes for the launcher's seams: processes that obey a script, and a clock that sleeping moves.

`FakeHandle` writes what happens to it (terminate, kill) into a shared event list, so a test
reads the order in which parts were signalled; `FakeClock.sleep` advances time instead of
waiting, so grace periods and start timeouts run instantly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loadmaster.local_cluster.parts import PartKind


@dataclass
class FakeClock:
    now: float = 1000.0
    slept: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@dataclass
class FakeHandle:
    """A part that exits on SIGTERM unless `ignores_term`; SIGKILL always works.
    `dies_at` makes it exit on its own once the clock reaches that time."""

    name: str
    events: list[str]
    clock: FakeClock
    pid: int = 4242
    ignores_term: bool = False
    dies_at: float | None = None
    status: int | None = None
    terms: int = 0

    def running(self) -> bool:
        if self.status is None and self.dies_at is not None and self.clock() >= self.dies_at:
            self.status = 1
        return self.status is None

    def exit_status(self) -> int | None:
        return self.status

    def terminate(self) -> None:
        self.events.append(f"term {self.name}")
        self.terms += 1
        if not self.ignores_term and self.status is None:
            self.status = 0

    def kill(self) -> None:
        self.events.append(f"kill {self.name}")
        if self.status is None:
            self.status = -9


@dataclass
class Cast:
    """One handle per part of a typical cluster, sharing an event list and a clock."""

    clock: FakeClock = field(default_factory=FakeClock)
    events: list[str] = field(default_factory=list)

    def handle(self, name: str, **kwargs: object) -> FakeHandle:
        return FakeHandle(name, self.events, self.clock, **kwargs)  # type: ignore[arg-type]

    def cluster(self) -> list[tuple[PartKind, FakeHandle]]:
        return [
            (PartKind.ETCD, self.handle("etcd")),
            (PartKind.BROKER, self.handle("kafka")),
            (PartKind.SCHEDULER, self.handle("scheduler")),
            (PartKind.AGENT, self.handle("agent-1")),
            (PartKind.AGENT, self.handle("agent-2")),
            (PartKind.GATEWAY, self.handle("gateway")),
        ]
