"""The parts of a local cluster, and the order they start and stop in.

The order is a property of the kind, not of the code that walks it: a part starts once
everything it talks to is healthy (etcd and the broker, then the scheduler, then the agents and
the gateway, which both only need the scheduler, then the pipeline workers, which call models
through the gateway), and stops before what it depends on, so no part spends its shutdown
retrying a dependency that has already gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PartKind(StrEnum):
    ETCD = "etcd"
    BROKER = "broker"
    SCHEDULER = "scheduler"
    AGENT = "agent"
    GATEWAY = "gateway"
    PIPELINE_WORKER = "pipeline-worker"

    @property
    def start_phase(self) -> int:
        """Parts of one phase start together; a phase starts when the previous is healthy."""
        return _START_PHASE[self]

    @property
    def stop_rank(self) -> int:
        """Parts stop by rank, lowest first: pipeline workers, the gateway, agents, scheduler,
        broker, etcd."""
        return _STOP_RANK[self]


_START_PHASE = {
    PartKind.ETCD: 0,
    PartKind.BROKER: 0,
    PartKind.SCHEDULER: 1,
    PartKind.AGENT: 2,
    PartKind.GATEWAY: 2,
    PartKind.PIPELINE_WORKER: 3,
}
_STOP_RANK = {
    PartKind.PIPELINE_WORKER: 0,
    PartKind.GATEWAY: 1,
    PartKind.AGENT: 2,
    PartKind.SCHEDULER: 3,
    PartKind.BROKER: 4,
    PartKind.ETCD: 5,
}


@dataclass(frozen=True, slots=True)
class PartPlan:
    """One child process to run: its name (also its log file's), kind, command line, and the
    ports it listens on by role (e.g. {"http": 9000, "grpc": 9500})."""

    name: str
    kind: PartKind
    argv: tuple[str, ...]
    ports: dict[str, int] = field(default_factory=dict)


def start_phases(parts: tuple[PartPlan, ...]) -> list[tuple[PartPlan, ...]]:
    """`parts` grouped by start phase, in order; the plan's order is kept inside a phase."""
    phases = sorted({p.kind.start_phase for p in parts})
    return [tuple(p for p in parts if p.kind.start_phase == phase) for phase in phases]


def agent_names(count: int) -> tuple[str, ...]:
    """agent-1 .. agent-N: the same names on every start, so the scheduler recognises the
    servers it knows from the store and places their models on them again."""
    return tuple(f"agent-{i}" for i in range(1, count + 1))


def pipeline_worker_names(count: int) -> tuple[str, ...]:
    """pipeline-worker-1 .. -N: members of the same consumer groups, so they share the work."""
    return tuple(f"pipeline-worker-{i}" for i in range(1, count + 1))
