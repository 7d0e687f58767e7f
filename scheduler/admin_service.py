"""The SchedulerAdmin gRPC service (default port 9004): what the CLI and SDKs call.

Calls answer from memory (the records are the truth while the scheduler runs) except the two
that change desired state, which return once the change is stored. Subscriptions send the
current status of what they follow, then every status that differs from the last one sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import TypeVar

import grpc

from loadmaster import __version__, logs
from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.resources import spec_from_proto
from scheduler.core import SchedulerCore
from scheduler.experiment_service import ExperimentAdmin
from scheduler.model_admin import InvalidSpec, UnknownModel, apply_spec, request_unload
from scheduler.pipeline_service import PipelineAdmin
from scheduler.pipeline_views import pipeline_routes
from scheduler.routes import experiment_routes, route_table
from scheduler.store import StoreError
from scheduler.views import model_message, server_message, terminated_message

Context = grpc.aio.ServicerContext[object, object]
log = logs.get_logger("scheduler.admin")
M = TypeVar("M", pb.ModelStatusResponse, pb.ServerStatusResponse)
Routes = tuple[list[pb.ModelRoute], list[pb.ExperimentRoute], list[pb.PipelineRoute]]

# How often a subscription re-checks even without a change (heartbeat losses are changes too,
# but a quiet stream should still notice a cancelled client).
_RECHECK_S = 5.0


class SchedulerAdminService(ExperimentAdmin, PipelineAdmin):
    """Models, servers and routes here; experiments come from `ExperimentAdmin`, pipelines
    from `PipelineAdmin`."""

    def __init__(self, core: SchedulerCore) -> None:
        self.core = core

    async def LoadModel(
        self, request: pb.LoadModelRequest, context: Context
    ) -> pb.LoadModelResponse:
        if not request.HasField("spec"):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "LoadModelRequest.spec is missing"
            )
        try:
            applied = await apply_spec(self.core, spec_from_proto(request.spec))
        except InvalidSpec as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the store is unavailable: {exc}")
        return pb.LoadModelResponse(
            name=request.spec.name, version=applied.version, changed=applied.changed
        )

    async def UnloadModel(
        self, request: pb.UnloadModelRequest, context: Context
    ) -> pb.UnloadModelResponse:
        try:
            await request_unload(self.core, request.name)
        except UnknownModel as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the store is unavailable: {exc}")
        return pb.UnloadModelResponse()

    async def ModelStatus(
        self, request: pb.ModelStatusRequest, context: Context
    ) -> pb.ModelStatusResponse:
        model = self.core.state.models.get(request.name)
        if model is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"model '{request.name}' not found")
        return model_message(self.core, model)

    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context
    ) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(models=self._models(""))

    async def ServerStatus(
        self, request: pb.ServerStatusRequest, context: Context
    ) -> pb.ServerStatusResponse:
        server = self.core.state.servers.get(request.name)
        if server is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"server '{request.name}' not found")
        return server_message(self.core, server)

    async def ListServers(
        self, request: pb.ListServersRequest, context: Context
    ) -> pb.ListServersResponse:
        return pb.ListServersResponse(servers=self._servers(""))

    async def SchedulerStatus(
        self, request: pb.SchedulerStatusRequest, context: Context
    ) -> pb.SchedulerStatusResponse:
        core = self.core
        return pb.SchedulerStatusResponse(
            version=__version__,
            store=core.state.store.address,
            leader=True,
            models=len(core.state.models),
            servers=len(core.state.servers),
            started_at_unix=core.started_at_unix,
        )

    async def SubscribeModelStatus(
        self, request: pb.SubscribeRequest, context: Context
    ) -> AsyncIterator[pb.ModelStatusResponse]:
        gone = terminated_message if request.name else None
        async for message in self._follow(lambda: self._models(request.name), gone):
            yield message

    async def SubscribeServerStatus(
        self, request: pb.SubscribeRequest, context: Context
    ) -> AsyncIterator[pb.ServerStatusResponse]:
        async for message in self._follow(lambda: self._servers(request.name), None):
            yield message

    async def SubscribeRoutes(
        self, request: pb.SubscribeRoutesRequest, context: Context
    ) -> AsyncIterator[pb.RouteTable]:
        """A full table first, then a new one whenever the routes change (not on every status
        change: a gateway only cares about where to send requests and why it cannot). A
        pipeline's state follows its models', so it is recomputed with every table."""
        log.info("gateway subscribed to routes", gateway=request.gateway or "(unnamed)")
        sent: Routes | None = None
        generation, number = -1, 0
        while True:
            generation = await self.core.changes.wait_after(generation, _RECHECK_S)
            routes = (
                route_table(self.core),
                experiment_routes(self.core),
                pipeline_routes(self.core),
            )
            if routes != sent:
                sent, number = routes, number + 1
                models, experiments, pipelines = routes
                yield pb.RouteTable(
                    generation=number, models=models, experiments=experiments, pipelines=pipelines
                )

    # ---- helpers -------------------------------------------------------------------------------

    def _models(self, name: str) -> list[pb.ModelStatusResponse]:
        models = self.core.state.models
        chosen = [models[name]] if name in models else [] if name else list(models.values())
        return [model_message(self.core, m) for m in sorted(chosen, key=lambda m: m.name)]

    def _servers(self, name: str) -> list[pb.ServerStatusResponse]:
        servers = self.core.state.servers
        chosen = [servers[name]] if name in servers else [] if name else list(servers.values())
        return [server_message(self.core, s) for s in sorted(chosen, key=lambda s: s.name)]

    async def _follow(
        self, current: Callable[[], Iterable[M]], gone: Callable[[str], M] | None
    ) -> AsyncIterator[M]:
        """Yield each followed item whenever it differs from what this subscriber last got;
        with `gone`, what it builds is sent once for an item that disappears."""
        sent: dict[str, M] = {}
        generation = -1
        while True:
            generation = await self.core.changes.wait_after(generation, _RECHECK_S)
            items = {m.name: m for m in current()}
            for name, message in items.items():
                if sent.get(name) != message:
                    sent[name] = message
                    yield message
            for name in [n for n in sent if n not in items]:
                del sent[name]
                if gone is not None:
                    yield gone(name)


__all__ = ["SchedulerAdminService"]
