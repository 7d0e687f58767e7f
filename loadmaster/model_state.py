"""Model and server states (brief §3): the words users, the CLI and tests read.

Replica states live in `loadmaster.replica_state`. A model's state is derived, not stored: the
scheduler computes it from the replicas of the model's versions on every change
(`scheduler.model_status`), so it can never disagree with them.
"""

from __future__ import annotations

from enum import StrEnum


class ModelState(StrEnum):
    PROGRESSING = "ModelProgressing"
    AVAILABLE = "ModelAvailable"
    FAILED = "ModelFailed"
    SCHEDULE_FAILED = "ScheduleFailed"
    TERMINATING = "ModelTerminating"
    TERMINATED = "ModelTerminated"
    SCALED_DOWN = "ModelScaledDown"


class ServerState(StrEnum):
    """`Ready` takes new replicas; `Draining` keeps serving while its replicas move; `Lost`
    stopped heart-beating and holds nothing the scheduler counts on."""

    READY = "Ready"
    DRAINING = "Draining"
    LOST = "Lost"


SERVER_TRANSITIONS: dict[ServerState, frozenset[ServerState]] = {
    ServerState.READY: frozenset({ServerState.DRAINING, ServerState.LOST}),
    ServerState.DRAINING: frozenset({ServerState.LOST, ServerState.READY}),
    ServerState.LOST: frozenset({ServerState.READY, ServerState.DRAINING}),
}
