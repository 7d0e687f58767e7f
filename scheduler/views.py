"""Admin API answers built from the records: model and server status as protobuf messages."""

from __future__ import annotations

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.model_state import ModelState
from loadmaster.resources import spec_to_proto
from scheduler.core import SchedulerCore
from scheduler.model_status import HOLDING, ModelStatus, summarize
from scheduler.records import ModelRecord, ServerRecord


def model_status(core: SchedulerCore, model: ModelRecord) -> ModelStatus:
    state = core.state
    return summarize(
        model,
        state.version_of(model),
        state.replicas_of(model.name),
        core.decisions.get(model.name),
    )


def model_message(core: SchedulerCore, model: ModelRecord) -> pb.ModelStatusResponse:
    status = model_status(core, model)
    return pb.ModelStatusResponse(
        name=status.name,
        version=status.version,
        state=status.state.value,
        scheduling=status.scheduling.value,
        desired_replicas=status.desired_replicas,
        available_replicas=status.available_replicas,
        reason=status.reason,
        replicas=[
            pb.ReplicaStatus(
                server=r.server,
                state=r.state.value,
                version=r.version,
                reason=r.reason,
                model=r.model,
            )
            for r in status.replicas
        ],
        spec=spec_to_proto(model.spec),
    )


def terminated_message(name: str) -> pb.ModelStatusResponse:
    """What a subscriber following one model hears when the model is gone."""
    return pb.ModelStatusResponse(name=name, state=ModelState.TERMINATED.value)


def server_message(core: SchedulerCore, server: ServerRecord) -> pb.ServerStatusResponse:
    replicas = sorted(core.state.replicas_on(server.name), key=lambda r: (r.model, r.version))
    holding = [r for r in replicas if r.state in HOLDING]
    used = sum(r.memory_bytes for r in holding)
    gpu_used: dict[int, int] = {}
    for r in holding:
        if r.gpu is not None:
            gpu_used[r.gpu] = gpu_used.get(r.gpu, 0) + r.gpu_memory_bytes
    return pb.ServerStatusResponse(
        name=server.name,
        state=server.state.value,
        http_endpoint=server.http_endpoint,
        grpc_endpoint=server.grpc_endpoint,
        memory_bytes=server.usable_memory_bytes,
        free_memory_bytes=max(0, server.usable_memory_bytes - used),
        parallel_workers=server.parallel_workers,
        overcommit_percent=server.overcommit_percent,
        capabilities=sorted(server.capabilities),
        gpus=[
            pb.GpuDevice(
                index=g.index,
                memory_bytes=g.memory_bytes,
                free_bytes=max(0, g.memory_bytes - gpu_used.get(g.index, 0)),
            )
            for g in server.gpus
        ],
        loaded=[
            pb.ReplicaStatus(
                server=server.name,
                model=r.model,
                version=r.version,
                state=r.state.value,
                reason=r.reason,
            )
            for r in replicas
        ],
        pool=server.pool,
    )
