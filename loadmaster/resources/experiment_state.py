"""Experiment states: the words users, the CLI and tests read (docs/experiments.md).

Like a model's state, an experiment's state is derived, never stored: the scheduler computes it
from the states of the models the experiment names, so it cannot disagree with them. There is
no terminated state: stopping an experiment deletes it.
"""

from __future__ import annotations

from enum import StrEnum


class ExperimentState(StrEnum):
    READY = "ExperimentReady"  # every candidate and the mirror has an Available replica
    WAITING = "ExperimentWaiting"  # some model is missing or has no Available replica
