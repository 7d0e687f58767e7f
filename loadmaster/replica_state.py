"""Replica states (brief §3) and the transitions allowed between them, as data.

The agent and the scheduler share this vocabulary. A replica's status is an immutable record;
`advance` returns the next one or raises `InvalidTransition`, so no handler flips flags.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class ReplicaState(StrEnum):
    LOAD_REQUESTED = "LoadRequested"
    LOADING = "Loading"
    AVAILABLE = "Available"
    LOAD_FAILED = "LoadFailed"
    UNLOAD_REQUESTED = "UnloadRequested"
    UNLOADING = "Unloading"
    UNLOADED = "Unloaded"
    UNLOAD_FAILED = "UnloadFailed"
    DRAINING = "Draining"
    EVICTED = "Evicted"
    LOST = "Lost"


S = ReplicaState
TRANSITIONS: dict[ReplicaState, frozenset[ReplicaState]] = {
    S.LOAD_REQUESTED: frozenset({S.LOADING, S.LOAD_FAILED, S.UNLOAD_REQUESTED, S.LOST}),
    S.LOADING: frozenset({S.AVAILABLE, S.LOAD_FAILED, S.UNLOAD_REQUESTED, S.LOST}),
    S.AVAILABLE: frozenset({S.UNLOAD_REQUESTED, S.DRAINING, S.EVICTED, S.LOST, S.LOADING}),
    S.LOAD_FAILED: frozenset({S.LOAD_REQUESTED, S.LOADING, S.UNLOAD_REQUESTED, S.UNLOADED}),
    S.UNLOAD_REQUESTED: frozenset({S.UNLOADING, S.UNLOADED, S.UNLOAD_FAILED, S.LOST}),
    S.UNLOADING: frozenset({S.UNLOADED, S.UNLOAD_FAILED, S.LOST}),
    S.UNLOADED: frozenset({S.LOAD_REQUESTED, S.LOADING}),
    S.UNLOAD_FAILED: frozenset({S.UNLOAD_REQUESTED, S.UNLOADING, S.UNLOADED, S.LOST}),
    S.DRAINING: frozenset({S.UNLOAD_REQUESTED, S.UNLOADING, S.AVAILABLE, S.LOST}),
    S.EVICTED: frozenset({S.UNLOADED, S.LOAD_REQUESTED}),
    S.LOST: frozenset({S.LOAD_REQUESTED, S.AVAILABLE, S.UNLOADED}),
}

# States in which a replica may take traffic.
SERVING: frozenset[ReplicaState] = frozenset({S.AVAILABLE})


class InvalidTransition(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    state: ReplicaState
    reason: str = ""

    def advance(self, state: ReplicaState, reason: str = "") -> ReplicaStatus:
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"replica cannot go from {self.state} to {state}")
        return replace(self, state=state, reason=reason)
