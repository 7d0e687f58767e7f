"""The fake scheduler with pipelines: stored specs, versions, and a state derived from the
fake's models the way the scheduler derives it (Ready when every step's model is
ModelAvailable, Waiting naming the models it waits for, Failed when a test says the models'
tensors disagree). Static problems are refused with INVALID_ARGUMENT and the checker's words,
as the scheduler refuses them."""

from __future__ import annotations

import threading

import grpc

from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.resources import check_pipeline, pipeline_from_proto


class PipelineFakes:
    """Mixed into tests.loadmaster.client.fakes.FakeScheduler, whose state it reads."""

    models: dict[str, admin_pb2.ModelStatusResponse]
    _changed: threading.Condition
    _generation: int

    def init_pipelines(self) -> None:
        self.pipelines: dict[str, tuple[admin_pb2.PipelineSpec, int]] = {}
        self.failed: dict[str, str] = {}  # pipeline -> why its tensors disagree

    def fail_pipeline(self, name: str, reason: str) -> None:
        """PipelineFailed from now on; the model stream ticks so waits look again."""
        self.failed[name] = reason
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def LoadPipeline(
        self, request: admin_pb2.LoadPipelineRequest, context: grpc.ServicerContext
    ) -> admin_pb2.LoadPipelineResponse:
        spec = request.spec
        problems = check_pipeline(pipeline_from_proto(spec))
        if problems:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems))
        old = self.pipelines.get(spec.name)
        if old is not None and old[0] == spec:
            return admin_pb2.LoadPipelineResponse(name=spec.name, version=old[1])
        version = old[1] + 1 if old is not None else 1
        self.pipelines[spec.name] = (spec, version)
        return admin_pb2.LoadPipelineResponse(name=spec.name, version=version, changed=True)

    def UnloadPipeline(
        self, request: admin_pb2.UnloadPipelineRequest, context: grpc.ServicerContext
    ) -> admin_pb2.UnloadPipelineResponse:
        if self.pipelines.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"pipeline '{request.name}' not found")
        return admin_pb2.UnloadPipelineResponse()

    def PipelineStatus(
        self, request: admin_pb2.PipelineStatusRequest, context: grpc.ServicerContext
    ) -> admin_pb2.PipelineStatusResponse:
        if request.name not in self.pipelines:
            context.abort(grpc.StatusCode.NOT_FOUND, f"pipeline '{request.name}' not found")
        return self._pipeline(request.name)

    def ListPipelines(
        self, request: admin_pb2.ListPipelinesRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListPipelinesResponse:
        return admin_pb2.ListPipelinesResponse(
            pipelines=[self._pipeline(name) for name in self.pipelines]
        )

    def _pipeline(self, name: str) -> admin_pb2.PipelineStatusResponse:
        spec, version = self.pipelines[name]
        steps: list[admin_pb2.PipelineStepStatus] = []
        waiting: dict[str, str] = {}
        for step in spec.steps:
            model = self.models.get(step.model)
            state = model.state if model is not None else ""
            ready = state == "ModelAvailable"
            steps.append(
                admin_pb2.PipelineStepStatus(
                    name=step.name, model=step.model, model_state=state, ready=ready
                )
            )
            if not ready:
                waiting[step.model] = state or "not loaded"
        out = admin_pb2.PipelineStatusResponse(name=name, version=version, spec=spec, steps=steps)
        if name in self.failed:
            out.state, out.reason = "PipelineFailed", self.failed[name]
        elif waiting:
            out.state = "PipelineWaiting"
            out.reason = "waiting for models: " + ", ".join(
                f"{m} ({s})" for m, s in waiting.items()
            )
        else:
            out.state = "PipelineReady"
        return out
