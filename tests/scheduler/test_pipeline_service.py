"""The pipeline calls of the admin service over real gRPC on loopback, with fake agents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from loadmaster.resources import spec_to_proto
from loadmaster.resources.pipeline_spec import pipeline_to_proto
from scheduler.admin_service import SchedulerAdminService
from tests.scheduler.fakes import (
    Gi,
    Rig,
    declares,
    loaded,
    make_core,
    pipeline,
    reconcile,
    register,
    spec,
    step,
)

if TYPE_CHECKING:  # the async stub type exists in the generated stubs only
    Stub = admin_pb2_grpc.SchedulerAdminAsyncStub
CHAIN = pipeline("chain", step("a"), step("b", "m", "a.outputs.y"))
# a takes the pipeline's inputs and gives y; m takes y and gives z.
FITTING = {"a": (["in"], ["y"]), "m": (["y"], ["z"])}
WAIT_S = 5.0  # generous: a hang fails the test instead of stalling the suite


@pytest.fixture
async def served() -> AsyncIterator[tuple[Rig, Stub]]:
    rig = make_core()
    server = grpc.aio.server()
    admin_pb2_grpc.add_SchedulerAdminServicer_to_server(SchedulerAdminService(rig.core), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield rig, admin_pb2_grpc.SchedulerAdminStub(channel)
    await server.stop(grace=None)


async def _load(stub: Stub, message: pb.PipelineSpec) -> pb.LoadPipelineResponse:
    reply = await stub.LoadPipeline(pb.LoadPipelineRequest(spec=message))
    assert isinstance(reply, pb.LoadPipelineResponse)
    return reply


async def _error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


async def _serve_models(
    rig: Rig, stub: Stub, declared: dict[str, tuple[list[str], list[str]]]
) -> None:
    """Server s with models a and m, loaded, each declaring (inputs, outputs) from `declared`."""
    await register(rig, "s", 8 * Gi)
    for name in ("a", "m"):
        await stub.LoadModel(pb.LoadModelRequest(spec=spec_to_proto(spec(name, Gi))))
    await reconcile(rig)
    await loaded(rig, {name: declares(*tensors) for name, tensors in declared.items()})


async def test_load_status_list_unload(served: tuple[Rig, Stub]) -> None:
    rig, stub = served
    reply = await _load(stub, pipeline_to_proto(CHAIN))
    assert (reply.name, reply.version, reply.changed) == ("chain", 1, True)
    again = await _load(stub, pipeline_to_proto(CHAIN))
    assert (again.version, again.changed) == (1, False)

    status = await stub.PipelineStatus(pb.PipelineStatusRequest(name="chain"))
    assert (status.name, status.version, status.state) == ("chain", 1, "PipelineWaiting")
    assert status.reason == "waiting for models: a (not loaded), m (not loaded)"
    assert status.spec == pipeline_to_proto(CHAIN)
    assert [(s.name, s.model, s.model_state, s.ready) for s in status.steps] == [
        ("a", "a", "", False),
        ("b", "m", "", False),
    ]

    await _serve_models(rig, stub, FITTING)
    ready = await stub.PipelineStatus(pb.PipelineStatusRequest(name="chain"))
    assert (ready.state, ready.reason) == ("PipelineReady", "")
    assert [(s.model_state, s.ready) for s in ready.steps] == [("ModelAvailable", True)] * 2

    other = pipeline("other", step("a"))
    assert (await _load(stub, pipeline_to_proto(other))).changed
    listing = await stub.ListPipelines(pb.ListPipelinesRequest())
    assert [(p.name, p.state) for p in listing.pipelines] == [
        ("chain", "PipelineReady"),
        ("other", "PipelineReady"),
    ]
    await stub.UnloadPipeline(pb.UnloadPipelineRequest(name="chain"))
    listing = await stub.ListPipelines(pb.ListPipelinesRequest())
    assert [p.name for p in listing.pipelines] == ["other"]


async def test_a_wrong_tensor_reference_shows_as_failed(served: tuple[Rig, Stub]) -> None:
    rig, stub = served
    await _load(stub, pipeline_to_proto(CHAIN))
    await _serve_models(rig, stub, {"a": (["in"], ["w"]), "m": (["y"], ["z"])})
    status = await stub.PipelineStatus(pb.PipelineStatusRequest(name="chain"))
    assert status.state == "PipelineFailed"
    assert status.reason == (
        "spec.steps[1].inputs[0]: 'a.outputs.y': model 'a' declares no output 'y' (it has: w)"
    )


async def test_errors_carry_status_codes(served: tuple[Rig, Stub]) -> None:
    _, stub = served
    missing = await _error(stub.PipelineStatus(pb.PipelineStatusRequest(name="nope")))
    assert (missing.code(), missing.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "pipeline 'nope' not found",
    )
    unload = await _error(stub.UnloadPipeline(pb.UnloadPipelineRequest(name="nope")))
    assert (unload.code(), unload.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "pipeline 'nope' not found",
    )
    no_spec = await _error(stub.LoadPipeline(pb.LoadPipelineRequest()))
    assert (no_spec.code(), no_spec.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "LoadPipelineRequest.spec is missing",
    )
    bad_join = pipeline_to_proto(CHAIN)
    bad_join.steps[1].inputs_join = "left"
    join = await _error(stub.LoadPipeline(pb.LoadPipelineRequest(spec=bad_join)))
    assert (join.code(), join.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "spec.steps[1].inputsJoinType: expected one of inner, outer, any, got 'left'",
    )
    cycle = pipeline("loop", step("a", "m", "b"), step("b", "m", "a"))
    invalid = await _error(stub.LoadPipeline(pb.LoadPipelineRequest(spec=pipeline_to_proto(cycle))))
    assert invalid.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.steps: steps form a cycle: a -> b -> a" in str(invalid.details())
    listing = await stub.ListPipelines(pb.ListPipelinesRequest())
    assert list(listing.pipelines) == []


async def _next_table(call: object) -> pb.RouteTable:
    async with asyncio.timeout(WAIT_S):
        table = await call.read()  # type: ignore[attr-defined]
    assert isinstance(table, pb.RouteTable)
    return table


async def test_route_table_carries_pipelines_and_their_state_follows_the_models(
    served: tuple[Rig, Stub],
) -> None:
    rig, stub = served
    call = stub.SubscribeRoutes(pb.SubscribeRoutesRequest(gateway="test"))
    first = await _next_table(call)
    assert (first.generation, list(first.pipelines)) == (1, [])
    await _load(stub, pipeline_to_proto(CHAIN))
    second = await _next_table(call)
    assert list(second.pipelines) == [
        pb.PipelineRoute(
            spec=pipeline_to_proto(CHAIN),
            version=1,
            state="PipelineWaiting",
            reason="waiting for models: a (not loaded), m (not loaded)",
        )
    ]
    # Model changes alone (no pipeline call) bring tables until the pipeline is ready.
    await _serve_models(rig, stub, FITTING)
    states: list[str] = []
    while not states or states[-1] != "PipelineReady":
        table = await _next_table(call)
        [route] = table.pipelines
        states.append(route.state)
        assert len(states) < 10, states
    assert set(states[:-1]) <= {"PipelineWaiting"}
    await stub.UnloadPipeline(pb.UnloadPipelineRequest(name="chain"))
    last = await _next_table(call)
    assert list(last.pipelines) == []
    call.cancel()
