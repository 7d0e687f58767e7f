"""Experiment status as the admin API answers it: records and traffic in, protobuf out."""

from __future__ import annotations

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.resources import experiment_to_proto
from scheduler.core import SchedulerCore
from scheduler.experiment_records import ExperimentRecord
from scheduler.experiment_status import (
    CandidateView,
    ExperimentView,
    ModelReadiness,
    summarize_experiment,
)
from scheduler.routes import is_routable
from scheduler.views import model_status


def model_readiness(core: SchedulerCore, name: str) -> ModelReadiness | None:
    """The model's state and whether a gateway could send it a request now; None when the
    scheduler has no such model."""
    model = core.state.models.get(name)
    if model is None:
        return None
    ready = any(is_routable(core, r) for r in core.state.replicas_of(name))
    return ModelReadiness(model_status(core, model).state.value, ready)


def experiment_view(core: SchedulerCore, record: ExperimentRecord) -> ExperimentView:
    models = {}
    for name in record.spec.models:
        readiness = model_readiness(core, name)
        if readiness is not None:
            models[name] = readiness
    return summarize_experiment(record, models, core.traffic.totals(record.name, record.uid))


def experiment_message(
    core: SchedulerCore, record: ExperimentRecord
) -> pb.ExperimentStatusResponse:
    view = experiment_view(core, record)
    message = pb.ExperimentStatusResponse(
        name=view.name,
        uid=view.uid,
        state=view.state.value,
        reason=view.reason,
        spec=experiment_to_proto(view.spec),
        candidates=[_candidate(c) for c in view.candidates],
        total_requests=view.total_requests,
    )
    if view.mirror is not None:
        message.mirror.CopyFrom(_candidate(view.mirror))
    return message


def _candidate(view: CandidateView) -> pb.CandidateStatus:
    return pb.CandidateStatus(
        model=view.model,
        weight=view.weight,
        model_state=view.model_state,
        ready=view.ready,
        requests=view.requests,
        observed_share=view.observed_share,
        expected_share=view.expected_share,
    )
