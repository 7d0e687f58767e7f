"""Starting a cluster: phase by phase, each part healthy before the parts that need it start.

All or nothing: a part that exits, or is not healthy within the timeout, stops everything
already started (in order) and fails the start naming that part, so a failed `up` leaves no
process behind and the user reads the one log that matters. After every spawn the record is
saved, so even a `loadmaster up` killed mid-start leaves pids that `down` can act on.

Spawning, probing, saving and time are injected: the sequencing and the failure paths are
unit-tested with fakes.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loadmaster.local_cluster.parts import PartPlan, start_phases
from loadmaster.local_cluster.plan import ClusterPlan
from loadmaster.local_cluster.probes import Probe
from loadmaster.local_cluster.processes import Handle
from loadmaster.local_cluster.stopping import StopOutcome, stop_all

POLL_S = 0.1


class PartFailed(Exception):
    """`part` exited or did not get healthy; `reason` says which, for people."""

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"{part}: {reason}")
        self.part = part
        self.reason = reason


class StartInterrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the cluster was starting."""


@dataclass(frozen=True, slots=True)
class RunningPart:
    plan: PartPlan
    handle: Handle


class Launcher:
    def __init__(
        self,
        plan: ClusterPlan,
        spawn: Callable[[PartPlan], Handle],
        probe: Callable[[PartPlan], Probe],
        save: Callable[[Sequence[RunningPart]], None],
        timeout_s: float,
        grace_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        interrupted: Callable[[], bool] = lambda: False,
        hurry: Callable[[], bool] = lambda: False,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.plan = plan
        self._spawn = spawn
        self._probe = probe
        self._save = save
        self._timeout_s = timeout_s
        self._grace_s = grace_s
        self._clock = clock
        self._sleep = sleep
        self._interrupted = interrupted
        self._hurry = hurry
        self._say = say
        self.running: list[RunningPart] = []

    def start(self) -> list[RunningPart]:
        """Every part running and healthy; on failure everything is stopped first, then
        PartFailed (or StartInterrupted) is raised."""
        try:
            for phase in start_phases(self.plan.parts):
                started = [self._start(part) for part in phase]
                self._save(self.running)
                self._wait_healthy(started)
        except BaseException:  # a failed part, Ctrl-C, or a bug: leave nothing behind
            self.stop()
            raise
        return list(self.running)

    def stop(self) -> StopOutcome:
        """Stop whatever this launcher started, in order; save the record without pids."""
        outcome = stop_all(
            [(r.plan.kind, r.handle) for r in self.running],
            self._grace_s,
            self._clock,
            self._sleep,
            self._hurry,
            self._say,
        )
        self.running = []
        self._save(self.running)
        return outcome

    def _start(self, part: PartPlan) -> RunningPart:
        self._say(f"starting {part.name}")
        try:
            handle = self._spawn(part)
        except OSError as exc:
            raise PartFailed(part.name, f"cannot start {part.argv[0]}: {exc}") from None
        running = RunningPart(part, handle)
        self.running.append(running)
        return running

    def _wait_healthy(self, parts: Sequence[RunningPart]) -> None:
        waiting = {r.plan.name: (r, self._probe(r.plan)) for r in parts}
        reasons: dict[str, str] = {}
        deadline = self._clock() + self._timeout_s
        while waiting:
            if self._interrupted():
                raise StartInterrupted()
            for name, (running, probe) in list(waiting.items()):
                if not running.handle.running():
                    raise PartFailed(
                        name, f"exited ({describe_exit(running.handle.exit_status())})"
                    )
                reason = probe()
                if reason is None:
                    del waiting[name]
                    self._say(f"{name} is healthy")
                else:
                    reasons[name] = reason
            if not waiting:
                return
            if self._clock() >= deadline:
                name = next(iter(waiting))
                raise PartFailed(
                    name,
                    f"not healthy within {self._timeout_s:g}s ({reasons.get(name, 'no answer')})",
                )
            self._sleep(POLL_S)


def describe_exit(status: int | None) -> str:
    """An exit status as people read it: "exit status 1", "killed by SIGKILL"."""
    if status is None:
        return "exit status unknown"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"
