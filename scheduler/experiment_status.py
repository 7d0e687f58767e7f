"""An experiment's status, derived from the states of its models and the traffic reported.

Pure, like `scheduler.model_status`: the same inputs give the same status, so it is computed on
demand and never stored. An experiment is `ExperimentReady` when every candidate and the mirror
can take a request (at least one Available replica on a server that is not Lost); otherwise it
is `ExperimentWaiting` and the reason lists the models that are missing or not ready. A
gateway routes a waiting experiment all the same; the state tells people whether some of its
requests will find no replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loadmaster.resources import ExperimentSpec, ExperimentState
from scheduler.experiment_records import ExperimentRecord
from scheduler.experiment_traffic import TrafficTotals


@dataclass(frozen=True, slots=True)
class ModelReadiness:
    """`state` is the model's state word, empty when the scheduler has no such model."""

    state: str
    ready: bool


MISSING = ModelReadiness("", False)


@dataclass(frozen=True, slots=True)
class CandidateView:
    model: str
    weight: int  # 0 for the mirror
    model_state: str
    ready: bool
    requests: int
    observed_share: float
    expected_share: float


@dataclass(frozen=True, slots=True)
class ExperimentView:
    name: str
    uid: int
    state: ExperimentState
    reason: str
    spec: ExperimentSpec
    candidates: tuple[CandidateView, ...]
    mirror: CandidateView | None
    total_requests: int


def summarize_experiment(
    record: ExperimentRecord, models: Mapping[str, ModelReadiness], traffic: TrafficTotals
) -> ExperimentView:
    spec = record.spec
    total, weights = traffic.total, spec.total_weight
    candidates = tuple(
        CandidateView(
            model=c.model,
            weight=c.weight,
            model_state=models.get(c.model, MISSING).state,
            ready=models.get(c.model, MISSING).ready,
            requests=traffic.candidates.get(c.model, 0),
            observed_share=_share(traffic.candidates.get(c.model, 0), total),
            expected_share=_share(c.weight, weights),
        )
        for c in spec.candidates
    )
    mirror = None
    if spec.mirror is not None:
        name = spec.mirror.model
        copies = traffic.mirror.get(name, 0)
        mirror = CandidateView(
            model=name,
            weight=0,
            model_state=models.get(name, MISSING).state,
            ready=models.get(name, MISSING).ready,
            requests=copies,
            observed_share=_share(copies, total),
            expected_share=spec.mirror.percent / 100,
        )
    everyone = (*candidates, *(() if mirror is None else (mirror,)))
    reason = _waiting_reason(everyone)
    state = ExperimentState.WAITING if reason else ExperimentState.READY
    return ExperimentView(
        name=spec.name,
        uid=record.uid,
        state=state,
        reason=reason,
        spec=spec,
        candidates=candidates,
        mirror=mirror,
        total_requests=total,
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _waiting_reason(models: tuple[CandidateView, ...]) -> str:
    """`missing: a, b; not ready: c (ModelProgressing)`, or empty when every model is ready."""
    missing = [m.model for m in models if not m.model_state]
    unready = [f"{m.model} ({m.model_state})" for m in models if m.model_state and not m.ready]
    parts = []
    if missing:
        parts.append("missing: " + ", ".join(missing))
    if unready:
        parts.append("not ready: " + ", ".join(unready))
    return "; ".join(parts)
