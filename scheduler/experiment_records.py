"""The stored records of experiments: desired state, like models, read back after a restart.

Why a uid next to the spec: gateways count requests per experiment and report the counts back
(`ReportTraffic`). When an experiment is changed or stopped and started again, counts made
under the old split must not be mixed into the new one, so every start or change gets a fresh
uid and counts travel with the uid they were made under. The counter is stored on its own, so
a uid is never handed out twice, not even after the experiment that held it was stopped or the
scheduler restarted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from loadmaster.resources import ExperimentSpec


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    RECORD_KIND: ClassVar[str] = "Experiment"

    spec: ExperimentSpec
    uid: int

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class ExperimentUidRecord:
    """The last experiment uid handed out; the next one is `last + 1`."""

    RECORD_KIND: ClassVar[str] = "ExperimentUid"

    last: int
