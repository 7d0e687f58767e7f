"""Pipeline status as the admin API and the route table carry it: records in, protobuf out.

Both the status calls and every route table build their answer here, from the same view, so a
gateway answers 503 with exactly the state and reason `loadmaster pipeline status` shows.
"""

from __future__ import annotations

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.resources.pipeline_check import ModelTensors
from loadmaster.resources.pipeline_spec import pipeline_to_proto
from scheduler.core import SchedulerCore
from scheduler.experiment_views import model_readiness
from scheduler.pipeline_records import PipelineRecord
from scheduler.pipeline_status import PipelineView, summarize_pipeline
from scheduler.routes import is_routable


def model_tensors(core: SchedulerCore, name: str) -> ModelTensors | None:
    """The declared tensor names of the model as it serves now: its current version's when a
    replica of it can take requests, else the newest serving version's (a roll in progress);
    None when no serving version declared any."""
    model = core.state.models.get(name)
    if model is None:
        return None
    serving = {r.version for r in core.state.replicas_of(name) if is_routable(core, r)}
    for version in sorted(serving, key=lambda v: (v != model.version, -v)):
        signature = core.signatures.get(name, version)
        if signature is not None:
            return ModelTensors(signature.input_names, signature.output_names)
    return None


def pipeline_view(core: SchedulerCore, record: PipelineRecord) -> PipelineView:
    models, tensors = {}, {}
    for name in record.spec.models:
        readiness = model_readiness(core, name)
        if readiness is not None:
            models[name] = readiness
        declared = model_tensors(core, name)
        if declared is not None:
            tensors[name] = declared
    return summarize_pipeline(record, models, tensors)


def pipeline_message(core: SchedulerCore, record: PipelineRecord) -> pb.PipelineStatusResponse:
    view = pipeline_view(core, record)
    return pb.PipelineStatusResponse(
        name=view.name,
        version=view.version,
        state=view.state.value,
        reason=view.reason,
        spec=pipeline_to_proto(view.spec),
        steps=[
            pb.PipelineStepStatus(
                name=s.name, model=s.model, model_state=s.model_state, ready=s.ready
            )
            for s in view.steps
        ],
    )


def pipeline_routes(core: SchedulerCore) -> list[pb.PipelineRoute]:
    """Every pipeline, sorted by name, whatever its state: gateways answer for a pipeline that
    is not ready (503 with its state and reason), and workers keep its topics."""
    routes = []
    for record in sorted(core.state.pipelines.values(), key=lambda p: p.name):
        view = pipeline_view(core, record)
        routes.append(
            pb.PipelineRoute(
                spec=pipeline_to_proto(view.spec),
                version=view.version,
                state=view.state.value,
                reason=view.reason,
            )
        )
    return routes
