"""What gateways report about experiment traffic, kept in memory and summed for status.

Why in memory only: the counts are an observation for people (does the split look right?), not
state any decision rests on, and gateways report them again every few seconds, so a restarted
scheduler has them back within one report interval. Why the latest value per source rather
than a running sum: each gateway instance reports counts that are cumulative since it started
routing that experiment uid, so a report lost or repeated changes nothing, and summing across
sources is a plain addition.

Counts belong to one experiment uid: a report for another uid than the experiment's current
one is ignored (it was made under a split that no longer applies), counts of an older uid are
dropped once the current uid is reported, and stopping an experiment forgets all of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from scheduler.experiment_records import ExperimentRecord


@dataclass(frozen=True, slots=True)
class TrafficEntry:
    """One line of a gateway's report: requests sent to `model` under experiment `uid`."""

    experiment: str
    uid: int
    model: str
    requests: int
    mirror: bool = False


@dataclass(frozen=True, slots=True)
class _Source:
    gateway: str
    instance: str
    uid: int
    model: str
    mirror: bool


@dataclass(frozen=True, slots=True)
class TrafficTotals:
    """Requests per model across every gateway instance: the split, and mirrored copies."""

    candidates: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.candidates.values())


class TrafficLedger:
    def __init__(self) -> None:
        self._counts: dict[str, dict[_Source, int]] = {}

    def record(
        self, gateway: str, instance: str, entry: TrafficEntry, current: ExperimentRecord | None
    ) -> bool:
        """Keep `entry` as the latest count from (gateway, instance); False when it is ignored:
        no such experiment, another uid, or a model the experiment does not send to."""
        if current is None or entry.uid != current.uid:
            return False
        spec = current.spec
        if entry.mirror:
            if spec.mirror is None or entry.model != spec.mirror.model:
                return False
        elif entry.model not in {c.model for c in spec.candidates}:
            return False
        counts = self._counts.setdefault(entry.experiment, {})
        for stale in [s for s in counts if s.uid != entry.uid]:
            del counts[stale]
        source = _Source(gateway, instance, entry.uid, entry.model, entry.mirror)
        counts[source] = entry.requests
        return True

    def forget(self, experiment: str) -> None:
        self._counts.pop(experiment, None)

    def totals(self, experiment: str, uid: int) -> TrafficTotals:
        candidates: dict[str, int] = defaultdict(int)
        mirror: dict[str, int] = defaultdict(int)
        for source, requests in self._counts.get(experiment, {}).items():
            if source.uid == uid:
                (mirror if source.mirror else candidates)[source.model] += requests
        return TrafficTotals(dict(candidates), dict(mirror))

    def sources(self, experiment: str) -> int:
        """How many (gateway, instance, model) counts are kept for `experiment`."""
        return len(self._counts.get(experiment, {}))
