"""One cell of the gateway benchmark: a route, a CPU layout and a concurrency, measured once.

A cell warms up, waits for the machine to be quiet, and measures; a run during which other
work on the (possibly shared) machine used more than `OTHER_CPU_LIMIT` cores is measured again
within a bounded patience, and the least disturbed try is kept and flagged if still disturbed.
The CPU used by each part of the cluster and by the load generator is recorded beside it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from bench.cluster import LocalCluster, PartUsage
from bench.common import Options, log, wait_for_quiet
from bench.loadgen import LoadResult

OTHER_CPU_LIMIT = 0.25
QUIET_WAIT_S = 10.0
MAX_TRIES = 2


class Protocol(StrEnum):
    REST = "rest"  # GRPC = "grpc" when the gateway serves it: h2load, as bench/dataplane.py


class Hop(StrEnum):
    DIRECT = "direct"
    GATEWAY = "gateway"


class Layout(StrEnum):
    """Where the processes may run.

    SHARED: anywhere, as on one small host; the gateway's CPU is taken from the agent's.
    PINNED: the agent (front end and workers) on the first half of the CPUs; the gateway,
    the scheduler and the load generator on the rest, as when the gateway has CPU of its own.
    """

    SHARED = "shared"
    PINNED = "pinned"


@dataclass(frozen=True, slots=True)
class Route:
    """One way to reach the model: straight to the agent or through the gateway."""

    hop: Hop
    protocol: Protocol
    url: str


Driver = Callable[[Route, int, float], LoadResult]  # route, concurrency, seconds


@dataclass(slots=True)
class Session:
    options: Options
    cluster: LocalCluster
    drivers: dict[Protocol, Driver]
    patience_until: float  # monotonic; no waiting for quiet or re-measuring after it

    def patience_left(self) -> float:
        return max(0.0, self.patience_until - time.monotonic())


def cpu_halves() -> tuple[set[int], set[int]] | None:
    """(the agent's CPUs, everyone else's) for `Layout.PINNED`; None on a one-CPU machine."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


@contextlib.contextmanager
def placed(cluster: LocalCluster, layout: Layout) -> Iterator[None]:
    """Apply `layout` to the cluster and to this process (the load generator inherits it)."""
    halves = cpu_halves() if layout is Layout.PINNED else None
    if halves is None:
        yield
        return
    mine = os.sched_getaffinity(0)
    cluster.pin(*halves)
    os.sched_setaffinity(0, halves[1])
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)
        cluster.unpin(mine)


def measure_cell(
    session: Session, layout: Layout, route: Route, concurrency: int
) -> dict[str, object]:
    drive, options = session.drivers[route.protocol], session.options
    drive(route, concurrency, options.warmup_s)
    attempts: list[tuple[LoadResult, PartUsage, float, float]] = []
    while True:
        quiet = wait_for_quiet(OTHER_CPU_LIMIT, min(QUIET_WAIT_S, session.patience_left()))
        before = session.cluster.cpu()
        result = drive(route, concurrency, options.duration_s)
        after = session.cluster.cpu()
        session.cluster.check_alive(f"{route.hop} {route.protocol} c={concurrency}")
        usage = session.cluster.usage(before, after)
        other = max(0.0, usage.machine - usage.cluster - result.client_cpu_cores)
        attempts.append((result, usage, other, quiet))
        retry = len(attempts) < MAX_TRIES and session.patience_left() > result.duration_s
        if other <= OTHER_CPU_LIMIT or not retry:
            break
        log(f"{route.hop} c={concurrency}: other work used {other:.2f} cores; measuring again")
    result, usage, other, quiet = min(attempts, key=lambda attempt: attempt[2])
    cell: dict[str, object] = {
        "layout": str(layout),
        "hop": str(route.hop),
        "protocol": str(route.protocol),
    }
    cell.update(result.as_json())
    cell["cpu"] = usage.as_json() | {
        "loadgen_cores": round(result.client_cpu_cores, 3),
        "other_cores": round(other, 3),
        "other_before_run_cores": round(quiet, 3),
    }
    cell["disturbed"] = other > OTHER_CPU_LIMIT
    cell["attempts"] = [
        {
            "throughput_rps": round(a.throughput_rps, 1),
            "p99_ms": a.p99_ms,
            "other_cores": round(o, 3),
        }
        for a, _, o, _ in attempts
    ]
    log(
        f"{layout:6} {route.hop:7} {route.protocol} c={concurrency:<2} "
        f"{result.throughput_rps:6.0f} req/s  p50 {result.p50_ms:5.2f} ms  "
        f"p99 {result.p99_ms:5.2f} ms  errors {result.errors}  (agent "
        f"{usage.agent_front + usage.agent_workers:.2f} cores, gateway {usage.gateway:.2f}, "
        f"wrk {result.client_cpu_cores:.2f}, other {other:.2f})"
    )
    return cell
