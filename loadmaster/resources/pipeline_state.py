"""Pipeline states: the words users, the CLI and tests read (PipelineStatusResponse.state).

Like an experiment's state, a pipeline's state is derived, never stored: the scheduler computes
it from the states and declared tensor signatures of the models the steps call, so it cannot
disagree with them. Static mistakes (an unknown step, a cycle) never reach a state: the
scheduler refuses them at load. Failed is for what only the models' signatures reveal.
"""

from __future__ import annotations

from enum import StrEnum


class PipelineState(StrEnum):
    READY = "PipelineReady"  # every step's model is Available and every reference checks
    WAITING = "PipelineWaiting"  # some step's model is missing or has no Available replica
    FAILED = "PipelineFailed"  # a reference or tensor name disagrees with a model's signature
