"""Stopping a cluster: in dependency order, politely first, then for sure.

The gateway goes first (no new traffic), then every agent together (each shuts its servers and
workers), then the scheduler (it records the agents as gone), then the broker, and etcd last,
since the scheduler writes to it until it exits. Each group gets SIGTERM and a grace period;
whatever is still running then gets SIGKILL, process group and all. A second Ctrl-C (`hurry`)
skips the rest of the grace. Time is injected so the ordering and escalation are tested
without processes or waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.processes import Handle

POLL_S = 0.05
# After SIGKILL the kernel removes a process almost at once; this only bounds a wait that
# should never be reached (an unkillable process in uninterruptible sleep).
KILL_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class StopOutcome:
    """Which parts exited on SIGTERM and which had to be killed."""

    stopped: tuple[str, ...]
    killed: tuple[str, ...]


def stop_groups(handles: Sequence[tuple[PartKind, Handle]]) -> list[list[Handle]]:
    """`handles` grouped by stop rank, in the order the groups are stopped."""
    ranks = sorted({kind.stop_rank for kind, _ in handles})
    return [[h for kind, h in handles if kind.stop_rank == rank] for rank in ranks]


def stop_all(
    handles: Sequence[tuple[PartKind, Handle]],
    grace_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    hurry: Callable[[], bool] = lambda: False,
    say: Callable[[str], None] = lambda _: None,
) -> StopOutcome:
    stopped: list[str] = []
    killed: list[str] = []
    for group in stop_groups(handles):
        alive = [h for h in group if h.running()]
        if not alive:
            for handle in group:
                handle.kill()  # nothing running: only stragglers of its group, if any
            continue
        say(f"stopping {', '.join(h.name for h in alive)}")
        for handle in alive:
            handle.terminate()
        deadline = clock() + grace_s
        while any(h.running() for h in alive) and clock() < deadline and not hurry():
            sleep(POLL_S)
        for handle in alive:
            if handle.running():
                killed.append(handle.name)
                say(f"{handle.name} did not stop within {grace_s:g}s; killing it")
            else:
                stopped.append(handle.name)
        for handle in group:
            handle.kill()
        _wait_gone(alive, clock, sleep)
    return StopOutcome(tuple(stopped), tuple(killed))


def _wait_gone(
    handles: Sequence[Handle], clock: Callable[[], float], sleep: Callable[[float], None]
) -> None:
    deadline = clock() + KILL_WAIT_S
    while any(h.running() for h in handles) and clock() < deadline:
        sleep(POLL_S)
