"""`loadmaster status`: is each part of a local cluster alive and doing its job?

Each part is looked at twice: is its recorded process alive (pid and start time), and does it
pass the same health probe `up` waited on. A part can be running yet unhealthy (an agent the
scheduler lost, a gateway without routes), and that is exactly what a user asking "why does my
request fail?" needs to see. The model and server counts come from the scheduler itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import psutil

from loadmaster.client import AdminError
from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.probes import AdminAccess, Probe, probe_for
from loadmaster.local_cluster.processes import find_process
from loadmaster.local_cluster.record import ClusterRecord
from loadmaster.model_state import ModelState, ServerState


class PartState(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class PartHealth:
    name: str
    kind: PartKind
    pid: int | None
    state: PartState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Counts:
    """What the scheduler reports; `error` is why it could not be asked, "" when it was."""

    models: int = 0
    models_available: int = 0
    servers: int = 0
    servers_ready: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class ClusterHealth:
    record: ClusterRecord
    parts: tuple[PartHealth, ...]
    counts: Counts

    @property
    def healthy(self) -> bool:
        return all(p.state is PartState.HEALTHY for p in self.parts) and not self.counts.error


def check_cluster(
    record: ClusterRecord,
    admin: AdminAccess,
    find: Callable[[int | None, float | None], psutil.Process | None] = find_process,
    probe: Callable[[PartKind, str, dict[str, int], AdminAccess], Probe] = probe_for,
) -> ClusterHealth:
    parts = []
    for part in record.parts:
        if find(part.pid, part.started) is None:
            detail = "not running" if part.pid is None else f"pid {part.pid} is gone"
            parts.append(PartHealth(part.name, part.kind, None, PartState.DOWN, detail))
            continue
        why = probe(part.kind, part.name, dict(part.ports), admin)()
        state = PartState.HEALTHY if why is None else PartState.UNHEALTHY
        parts.append(PartHealth(part.name, part.kind, part.pid, state, why or ""))
    return ClusterHealth(record, tuple(parts), _counts(admin))


def _counts(admin: AdminAccess) -> Counts:
    try:
        models = admin.call(lambda client: client.list_models())
        servers = admin.call(lambda client: client.list_servers())
    except AdminError as exc:
        return Counts(error=exc.message)
    return Counts(
        models=len(models),
        models_available=sum(m.state == ModelState.AVAILABLE for m in models),
        servers=len(servers),
        servers_ready=sum(s.state == ServerState.READY for s in servers),
    )


def health_json(health: ClusterHealth) -> dict[str, object]:
    """`status --json`: camelCase keys like every other `--json`; counts are null (and
    `schedulerError` says why) when the scheduler could not be asked."""
    record, counts = health.record, health.counts
    asked = not counts.error
    return {
        "dataDir": record.data_dir,
        "startedAt": record.started_at,
        "detached": record.detached,
        "healthy": health.healthy,
        "parts": [_part_json(p) for p in health.parts],
        "models": {"total": counts.models, "available": counts.models_available} if asked else None,
        "servers": {"total": counts.servers, "ready": counts.servers_ready} if asked else None,
        "schedulerError": counts.error or None,
        "endpoints": dict(record.endpoints),
    }


def _part_json(part: PartHealth) -> dict[str, object]:
    return {
        "name": part.name,
        "kind": part.kind.value,
        "pid": part.pid,
        "state": part.state.value,
        "detail": part.detail,
    }
