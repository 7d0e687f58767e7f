"""The admin service over real gRPC on loopback, backed by a core with fake agents."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from loadmaster.resources import spec_to_proto
from scheduler.admin_service import SchedulerAdminService
from tests.scheduler.fakes import Gi, Rig, loaded, make_core, reconcile, register, spec


@pytest.fixture
async def served() -> AsyncIterator[tuple[Rig, admin_pb2_grpc.SchedulerAdminAsyncStub]]:
    rig = make_core()
    server = grpc.aio.server()
    admin_pb2_grpc.add_SchedulerAdminServicer_to_server(SchedulerAdminService(rig.core), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield rig, admin_pb2_grpc.SchedulerAdminStub(channel)
    await server.stop(grace=None)


async def test_load_status_and_errors(
    served: tuple[Rig, admin_pb2_grpc.SchedulerAdminAsyncStub],
) -> None:
    rig, stub = served
    await register(rig, "a", 4 * Gi)
    reply = await stub.LoadModel(pb.LoadModelRequest(spec=spec_to_proto(spec("m", 1 * Gi))))
    assert (reply.name, reply.version, reply.changed) == ("m", 1, True)
    again = await stub.LoadModel(pb.LoadModelRequest(spec=spec_to_proto(spec("m", 1 * Gi))))
    assert again.changed is False
    await reconcile(rig)
    await loaded(rig)
    status = await stub.ModelStatus(pb.ModelStatusRequest(name="m"))
    assert (status.state, status.scheduling, status.available_replicas) == (
        "ModelAvailable",
        "Full",
        1,
    )
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.ModelStatus(pb.ModelStatusRequest(name="nope"))
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    assert missing.value.details() == "model 'nope' not found"
    bad = spec_to_proto(spec("m", 1 * Gi, replicas=1, min_replicas=1))
    bad.min_replicas = 3
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.LoadModel(pb.LoadModelRequest(spec=bad))
    assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.minReplicas: 3 is above spec.replicas (1)" in str(invalid.value.details())


async def test_route_subscription_sends_a_table_per_route_change(
    served: tuple[Rig, admin_pb2_grpc.SchedulerAdminAsyncStub],
) -> None:
    rig, stub = served
    await register(rig, "a", 4 * Gi)
    call = stub.SubscribeRoutes(pb.SubscribeRoutesRequest(gateway="test"))
    first = await call.read()
    assert isinstance(first, pb.RouteTable)
    assert (first.generation, list(first.models)) == (1, [])
    await stub.LoadModel(pb.LoadModelRequest(spec=spec_to_proto(spec("m", 1 * Gi))))
    second = await call.read()
    assert isinstance(second, pb.RouteTable)
    assert [(r.model, r.state, len(r.endpoints)) for r in second.models] == [
        ("m", "ModelProgressing", 0)
    ]
    await reconcile(rig)
    await loaded(rig)
    latest = second
    while not latest.models[0].endpoints:  # intermediate tables may show loads in progress
        read = await call.read()
        assert isinstance(read, pb.RouteTable)
        assert read.generation == latest.generation + 1
        latest = read
    [endpoint] = latest.models[0].endpoints
    assert (endpoint.server, endpoint.version, endpoint.http_endpoint) == ("a", 1, "http://a:9000")
    call.cancel()
