"""A model's status, derived from its records and the last placement decision (brief §3).

Pure: the same records always give the same status, so it is computed on demand (admin calls,
subscriptions, metrics) rather than stored, and cannot drift from the replicas.

The rules, in order:
* `ModelTerminating` while an unload is in progress.
* `ModelScaledDown` when the spec asks for zero replicas.
* `ModelFailed` when a replica of the current version failed to load (the reason says where).
* `ModelAvailable` when the current version serves at least max(1, minReplicas) replicas, or
  while a version roll is in progress and an older version still serves: a roll never takes
  a model out of service.
* `ModelProgressing` while replicas are being loaded, `ScheduleFailed` when placement could
  not find room for minReplicas and fewer than that serve.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from loadmaster.model_state import ModelState
from loadmaster.replica_state import ReplicaState
from scheduler.placement import PlacementDecision, Scheduling
from scheduler.records import ModelRecord, ReplicaRecord, VersionRecord

S = ReplicaState
# Replicas that hold memory on their server.
HOLDING: frozenset[ReplicaState] = frozenset(
    {S.LOAD_REQUESTED, S.LOADING, S.AVAILABLE, S.UNLOAD_REQUESTED, S.UNLOADING, S.UNLOAD_FAILED,
     S.DRAINING}
)  # fmt: skip
# Replicas on their way out: they hold memory but no longer count towards the desired number.
LEAVING: frozenset[ReplicaState] = frozenset({S.UNLOAD_REQUESTED, S.UNLOADING, S.UNLOAD_FAILED})
# Replicas that count towards the desired number.
PLACED: frozenset[ReplicaState] = HOLDING - LEAVING
IN_FLIGHT: frozenset[ReplicaState] = frozenset({S.LOAD_REQUESTED, S.LOADING})


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    version: int
    state: ModelState
    scheduling: Scheduling
    desired_replicas: int
    available_replicas: int
    reason: str
    replicas: tuple[ReplicaRecord, ...]


def summarize(
    model: ModelRecord,
    version: VersionRecord | None,
    replicas: Iterable[ReplicaRecord],
    decision: PlacementDecision | None,
) -> ModelStatus:
    mine = tuple(sorted(replicas, key=lambda r: (-r.version, r.server)))
    current = [r for r in mine if r.version == model.version]
    available = sum(r.state is S.AVAILABLE for r in current)
    placed = sum(r.state in PLACED for r in current)
    older_serving = any(r.state is S.AVAILABLE for r in mine if r.version < model.version)
    spec = model.spec
    scheduling, reason = _scheduling(spec.replicas, spec.min_replicas, placed, decision)
    floor = max(1, spec.min_replicas)
    failed = version.failed_reason if version is not None else ""
    if model.deleting:
        state, reason = ModelState.TERMINATING, ""
    elif spec.replicas == 0:
        state, reason = ModelState.SCALED_DOWN, ""
    elif failed:
        state, reason = ModelState.FAILED, failed
    elif available >= floor or older_serving:
        state = ModelState.AVAILABLE
    elif any(r.state in IN_FLIGHT for r in current):
        state = ModelState.PROGRESSING
    elif scheduling is Scheduling.FAILED and decision is not None:
        state = ModelState.SCHEDULE_FAILED
    else:
        state = ModelState.PROGRESSING
    return ModelStatus(
        name=model.name,
        version=model.version,
        state=state,
        scheduling=scheduling,
        desired_replicas=spec.replicas,
        available_replicas=available,
        reason=reason,
        replicas=mine,
    )


def _scheduling(
    desired: int, minimum: int, placed: int, decision: PlacementDecision | None
) -> tuple[Scheduling, str]:
    """The last decision's verdict; before the first decision, what the records show."""
    if decision is not None:
        return decision.scheduling, decision.reason
    if placed >= desired:
        return Scheduling.FULL, ""
    return (Scheduling.PARTIAL if placed >= max(1, minimum) else Scheduling.FAILED), ""
