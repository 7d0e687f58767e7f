from __future__ import annotations

import pytest

from loadmaster.replica_state import (
    TRANSITIONS,
    InvalidTransition,
    ReplicaState,
    ReplicaStatus,
)

S = ReplicaState


def test_every_state_has_a_transition_row() -> None:
    assert set(TRANSITIONS) == set(ReplicaState)


@pytest.mark.parametrize(
    "path",
    [
        [S.LOAD_REQUESTED, S.LOADING, S.AVAILABLE, S.UNLOAD_REQUESTED, S.UNLOADING, S.UNLOADED],
        [S.LOAD_REQUESTED, S.LOADING, S.LOAD_FAILED, S.LOAD_REQUESTED],
        [S.LOADING, S.AVAILABLE, S.DRAINING, S.UNLOADING, S.UNLOADED],
        [S.AVAILABLE, S.LOST, S.AVAILABLE],
    ],
)
def test_allowed_paths(path: list[ReplicaState]) -> None:
    status = ReplicaStatus(path[0])
    for state in path[1:]:
        status = status.advance(state)
    assert status.state is path[-1]


@pytest.mark.parametrize(
    ("start", "target"),
    [(S.UNLOADED, S.AVAILABLE), (S.LOAD_FAILED, S.AVAILABLE), (S.UNLOADING, S.AVAILABLE)],
)
def test_forbidden_transitions_raise(start: ReplicaState, target: ReplicaState) -> None:
    with pytest.raises(InvalidTransition, match=f"from {start} to {target}"):
        ReplicaStatus(start).advance(target)


def test_status_is_immutable_and_keeps_the_reason() -> None:
    before = ReplicaStatus(S.LOADING)
    after = before.advance(S.LOAD_FAILED, "no such file")
    assert before.state is S.LOADING
    assert after.reason == "no such file"
