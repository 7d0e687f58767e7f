"""The pipeline half of the SchedulerAdmin gRPC service (docs/pipelines.md).

`SchedulerAdminService` inherits these calls, so there is one service on the admin port; they
live apart, like the experiment calls, because pipelines are their own resource with their own
rules. Load and unload return once the change is stored; status and list answer from memory.
"""

from __future__ import annotations

import grpc

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from loadmaster.resources.pipeline_spec import PipelineSpec, pipeline_from_proto
from scheduler.core import SchedulerCore
from scheduler.model_admin import InvalidSpec
from scheduler.pipeline_admin import UnknownPipeline, load_pipeline, unload_pipeline
from scheduler.pipeline_views import pipeline_message
from scheduler.store import StoreError

Context = grpc.aio.ServicerContext[object, object]


class PipelineAdmin(admin_pb2_grpc.SchedulerAdminServicer):
    core: SchedulerCore

    async def LoadPipeline(
        self, request: pb.LoadPipelineRequest, context: Context
    ) -> pb.LoadPipelineResponse:
        if not request.HasField("spec"):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "LoadPipelineRequest.spec is missing"
            )
        spec = await _spec(request.spec, context)
        try:
            loaded = await load_pipeline(self.core, spec)
        except InvalidSpec as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the store is unavailable: {exc}")
        return pb.LoadPipelineResponse(
            name=spec.name, version=loaded.version, changed=loaded.changed
        )

    async def UnloadPipeline(
        self, request: pb.UnloadPipelineRequest, context: Context
    ) -> pb.UnloadPipelineResponse:
        try:
            await unload_pipeline(self.core, request.name)
        except UnknownPipeline as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the store is unavailable: {exc}")
        return pb.UnloadPipelineResponse()

    async def PipelineStatus(
        self, request: pb.PipelineStatusRequest, context: Context
    ) -> pb.PipelineStatusResponse:
        record = self.core.state.pipelines.get(request.name)
        if record is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"pipeline '{request.name}' not found")
        return pipeline_message(self.core, record)

    async def ListPipelines(
        self, request: pb.ListPipelinesRequest, context: Context
    ) -> pb.ListPipelinesResponse:
        records = sorted(self.core.state.pipelines.values(), key=lambda p: p.name)
        return pb.ListPipelinesResponse(pipelines=[pipeline_message(self.core, r) for r in records])


async def _spec(message: pb.PipelineSpec, context: Context) -> PipelineSpec:
    """The spec as a record; a join word that is not inner, outer or any is INVALID_ARGUMENT."""
    try:
        return pipeline_from_proto(message)
    except ValueError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
