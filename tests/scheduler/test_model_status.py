"""summarize(): a model's state and scheduling, derived from its records (brief §3)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from loadmaster.model_state import ModelState
from loadmaster.replica_state import ReplicaState
from scheduler.model_status import summarize
from scheduler.placement import ModelKey, PlacementDecision, Scheduling
from scheduler.records import ModelRecord, ReplicaRecord, VersionRecord
from tests.scheduler.fakes import Gi, spec

S = ReplicaState
M = ModelState
FULL, PARTIAL, FAILED = Scheduling.FULL, Scheduling.PARTIAL, Scheduling.FAILED


def rep(server: str, state: ReplicaState, version: int = 1) -> ReplicaRecord:
    return ReplicaRecord("m", version, server, state, Gi)


def decided(scheduling: Scheduling, reason: str = "", version: int = 1) -> PlacementDecision:
    return PlacementDecision(ModelKey("m", version), scheduling, reason)


@dataclass(frozen=True)
class Case:
    id: str
    replicas: tuple[ReplicaRecord, ...]
    state: ModelState
    scheduling: Scheduling
    available: int
    reason: str = ""
    desired: int = 3
    minimum: int = 2
    version: int = 1
    deleting: bool = False
    failed_reason: str = ""
    decision: PlacementDecision | None = None


CASES = [
    Case(
        "terminating wins over everything, reason cleared",
        (rep("a", S.AVAILABLE), rep("b", S.AVAILABLE), rep("c", S.AVAILABLE)),
        M.TERMINATING,
        FULL,
        3,
        deleting=True,
        failed_reason="load failed on server a: boom",
        decision=decided(FULL),
    ),
    Case(
        "scaled down to zero replicas",
        (),
        M.SCALED_DOWN,
        FULL,
        0,
        desired=0,
        minimum=0,
        decision=decided(FULL),
    ),
    Case(
        "failed version shows the failure even while replicas serve",
        (rep("a", S.AVAILABLE), rep("b", S.LOAD_FAILED)),
        M.FAILED,
        PARTIAL,
        1,
        "load failed on server b: no such file",
        failed_reason="load failed on server b: no such file",
        decision=decided(PARTIAL, "2 of 3 replicas placed: x"),
    ),
    Case(
        "available at the minReplicas floor while the rest load",
        (rep("a", S.AVAILABLE), rep("b", S.AVAILABLE), rep("c", S.LOADING)),
        M.AVAILABLE,
        FULL,
        2,
        decision=decided(FULL),
    ),
    Case(
        "one below the floor with a load in flight is progressing",
        (rep("a", S.AVAILABLE), rep("b", S.LOADING), rep("c", S.LOAD_REQUESTED)),
        M.PROGRESSING,
        FULL,
        1,
        decision=decided(FULL),
    ),
    Case(
        "minReplicas 0 still needs one available replica",
        (rep("a", S.LOADING),),
        M.PROGRESSING,
        FULL,
        0,
        desired=1,
        minimum=0,
        decision=decided(FULL),
    ),
    Case(
        "an older version serving during a roll keeps the model available",
        (rep("a", S.AVAILABLE, 1), rep("a", S.LOAD_REQUESTED, 2), rep("b", S.LOADING, 2)),
        M.AVAILABLE,
        FULL,
        0,
        desired=2,
        minimum=1,
        version=2,
        decision=decided(FULL, version=2),
    ),
    Case(
        "an older version that no longer serves does not",
        (rep("a", S.UNLOADING, 1), rep("a", S.LOAD_REQUESTED, 2)),
        M.PROGRESSING,
        FULL,
        0,
        desired=1,
        minimum=1,
        version=2,
        decision=decided(FULL, version=2),
    ),
    Case(
        "schedule failed: nothing placed, nothing serving, reason from placement",
        (),
        M.SCHEDULE_FAILED,
        FAILED,
        0,
        "needs 2Gi per replica, largest free is 1Gi on server a",
        decision=decided(FAILED, "needs 2Gi per replica, largest free is 1Gi on server a"),
    ),
    Case(
        "a failed decision with loads in flight is still progressing",
        (rep("a", S.LOADING),),
        M.PROGRESSING,
        FAILED,
        0,
        "1 of 3 replicas placed, fewer than minReplicas 2: x",
        decision=decided(FAILED, "1 of 3 replicas placed, fewer than minReplicas 2: x"),
    ),
    Case(
        # e.g. one of three replicas sits on a draining server with nowhere to move to
        "failed scheduling with the floor still served is available",
        (rep("a", S.AVAILABLE), rep("b", S.AVAILABLE), rep("c", S.AVAILABLE)),
        M.AVAILABLE,
        FAILED,
        3,
        "2 of 3 replicas placed, fewer than minReplicas 3: x",
        minimum=3,
        decision=decided(FAILED, "2 of 3 replicas placed, fewer than minReplicas 3: x"),
    ),
    Case(
        "failed scheduling below the floor with nothing in flight is ScheduleFailed",
        (rep("a", S.AVAILABLE), rep("b", S.AVAILABLE)),
        M.SCHEDULE_FAILED,
        FAILED,
        2,
        "2 of 3 replicas placed, fewer than minReplicas 3: x",
        minimum=3,
        decision=decided(FAILED, "2 of 3 replicas placed, fewer than minReplicas 3: x"),
    ),
    Case(
        "before any decision: Full from the records",
        (rep("a", S.LOAD_REQUESTED), rep("b", S.LOADING), rep("c", S.AVAILABLE)),
        M.PROGRESSING,
        FULL,
        1,
    ),
    Case(
        "before any decision: Partial from the records; leaving replicas do not count",
        (rep("a", S.AVAILABLE), rep("b", S.LOADING), rep("c", S.UNLOAD_REQUESTED)),
        M.PROGRESSING,
        PARTIAL,
        1,
    ),
    Case(
        "before any decision: Failed from the records is not ScheduleFailed",
        (rep("a", S.AVAILABLE), rep("b", S.LOST), rep("c", S.LOAD_FAILED)),
        M.PROGRESSING,
        FAILED,
        1,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_summarize(case: Case) -> None:
    model_spec = spec("m", Gi, case.desired, case.minimum)
    model = ModelRecord(model_spec, case.version, seq=1, deleting=case.deleting)
    version = VersionRecord(model_spec, case.version, case.failed_reason)
    status = summarize(model, version, case.replicas, case.decision)
    got = (status.state, status.scheduling, status.available_replicas, status.reason)
    want = (case.state, case.scheduling, case.available, case.reason)
    assert got == want
    assert (status.name, status.version) == ("m", case.version)
    assert status.desired_replicas == case.desired


def test_replicas_listed_newest_version_first_then_by_server() -> None:
    model = ModelRecord(spec("m", Gi, 2), 2, seq=1)
    records = [rep("b", S.AVAILABLE, 1), rep("c", S.LOADING, 2), rep("a", S.AVAILABLE, 1)]
    records.append(rep("a", S.LOAD_REQUESTED, 2))
    status = summarize(model, VersionRecord(model.spec, 2), records, None)
    order = [(r.version, r.server) for r in status.replicas]
    assert order == [(2, "a"), (2, "c"), (1, "a"), (1, "b")]


def test_missing_version_record_is_not_a_failure() -> None:
    model = ModelRecord(spec("m", Gi, 1), 1, seq=1)
    status = summarize(model, None, [rep("a", S.AVAILABLE)], decided(FULL))
    assert (status.state, status.reason) == (M.AVAILABLE, "")
