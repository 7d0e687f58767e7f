"""The experiment calls of the admin service over real gRPC on loopback, with fake agents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from loadmaster.resources import experiment_to_proto, spec_to_proto
from scheduler.admin_service import SchedulerAdminService
from tests.scheduler.fakes import Gi, Rig, experiment, loaded, make_core, reconcile, register, spec

if TYPE_CHECKING:  # the async stub type exists in the generated stubs only
    Stub = admin_pb2_grpc.SchedulerAdminAsyncStub
AB = experiment("ab", ("a", 1), ("b", 3), default="a", mirror=("m", 20))


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


async def _start(stub: Stub, spec_message: pb.ExperimentSpec) -> pb.StartExperimentResponse:
    reply = await stub.StartExperiment(pb.StartExperimentRequest(spec=spec_message))
    assert isinstance(reply, pb.StartExperimentResponse)
    return reply


async def _error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


async def test_start_status_list_stop(served: tuple[Rig, Stub]) -> None:
    rig, stub = served
    reply = await _start(stub, experiment_to_proto(AB))
    assert (reply.name, reply.uid, reply.changed) == ("ab", 1, True)
    again = await _start(stub, experiment_to_proto(AB))
    assert (again.uid, again.changed) == (1, False)

    status = await stub.ExperimentStatus(pb.ExperimentStatusRequest(name="ab"))
    assert (status.name, status.uid, status.state) == ("ab", 1, "ExperimentWaiting")
    assert status.reason == "missing: a, b, m"
    assert status.spec == experiment_to_proto(AB)
    assert [(c.model, c.weight, c.expected_share) for c in status.candidates] == [
        ("a", 1, 0.25),
        ("b", 3, 0.75),
    ]
    assert (status.mirror.model, status.mirror.expected_share) == ("m", 0.2)

    await register(rig, "s", 8 * Gi)
    for name in ("a", "b", "m"):
        await stub.LoadModel(pb.LoadModelRequest(spec=spec_to_proto(spec(name, Gi))))
    await reconcile(rig)
    await loaded(rig)
    ready = await stub.ExperimentStatus(pb.ExperimentStatusRequest(name="ab"))
    assert (ready.state, ready.reason) == ("ExperimentReady", "")
    assert [c.model_state for c in ready.candidates] == ["ModelAvailable", "ModelAvailable"]
    assert all(c.ready for c in ready.candidates) and ready.mirror.ready

    listing = await stub.ListExperiments(pb.ListExperimentsRequest())
    assert [e.name for e in listing.experiments] == ["ab"]
    await stub.StopExperiment(pb.StopExperimentRequest(name="ab"))
    assert list((await stub.ListExperiments(pb.ListExperimentsRequest())).experiments) == []


async def test_errors_carry_status_codes(served: tuple[Rig, Stub]) -> None:
    _, stub = served
    missing = await _error(stub.ExperimentStatus(pb.ExperimentStatusRequest(name="nope")))
    assert (missing.code(), missing.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "experiment 'nope' not found",
    )
    stop = await _error(stub.StopExperiment(pb.StopExperimentRequest(name="nope")))
    assert stop.code() is grpc.StatusCode.NOT_FOUND
    no_spec = await _error(stub.StartExperiment(pb.StartExperimentRequest()))
    assert (no_spec.code(), no_spec.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "StartExperimentRequest.spec is missing",
    )
    bad = experiment_to_proto(experiment("x", ("a", 1)))
    invalid = await _error(stub.StartExperiment(pb.StartExperimentRequest(spec=bad)))
    assert invalid.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert str(invalid.details()).startswith("spec.candidates: at least 2 candidates")
    await _start(stub, experiment_to_proto(AB))
    rival = experiment_to_proto(experiment("rival", ("a", 1), ("c", 1), default="a"))
    taken = await _error(stub.StartExperiment(pb.StartExperimentRequest(spec=rival)))
    assert taken.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "already taken over by experiment 'ab'" in str(taken.details())
    anonymous = await _error(stub.ReportTraffic(pb.TrafficReport(instance="p1")))
    assert (anonymous.code(), anonymous.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "TrafficReport.gateway must not be empty: counts are kept per gateway and per gateway "
        "process",
    )


def _report(gateway: str, instance: str, uid: int, **counts: int) -> pb.TrafficReport:
    """`counts`: candidate model -> requests; `m` is the mirror."""
    return pb.TrafficReport(
        gateway=gateway,
        instance=instance,
        traffic=[
            pb.ExperimentTraffic(
                experiment="ab", uid=uid, model=model, requests=n, mirror=model == "m"
            )
            for model, n in counts.items()
        ],
    )


async def test_reported_traffic_shows_in_status(served: tuple[Rig, Stub]) -> None:
    _, stub = served
    uid = (await _start(stub, experiment_to_proto(AB))).uid
    await stub.ReportTraffic(_report("g1", "p1", uid, a=10, b=20, m=6))
    await stub.ReportTraffic(_report("g2", "p1", uid, a=5, b=5))
    await stub.ReportTraffic(_report("g1", "p1", uid, a=15, b=40, m=11))  # cumulative
    await stub.ReportTraffic(_report("g3", "p1", uid + 1, a=1000))  # not the current uid
    status = await stub.ExperimentStatus(pb.ExperimentStatusRequest(name="ab"))
    assert status.total_requests == 65
    assert [(c.model, c.requests) for c in status.candidates] == [("a", 20), ("b", 45)]
    assert [round(c.observed_share, 4) for c in status.candidates] == [0.3077, 0.6923]
    assert (status.mirror.requests, round(status.mirror.observed_share, 4)) == (11, 0.1692)
    await stub.StopExperiment(pb.StopExperimentRequest(name="ab"))
    await _start(stub, experiment_to_proto(AB))
    fresh = await stub.ExperimentStatus(pb.ExperimentStatusRequest(name="ab"))
    assert (fresh.uid, fresh.total_requests) == (uid + 1, 0)


async def test_route_table_carries_experiments_and_changes_wake_it(
    served: tuple[Rig, Stub],
) -> None:
    _, stub = served
    call = stub.SubscribeRoutes(pb.SubscribeRoutesRequest(gateway="test"))
    first = await call.read()
    assert isinstance(first, pb.RouteTable)
    assert (first.generation, list(first.experiments)) == (1, [])
    uid = (await _start(stub, experiment_to_proto(AB))).uid
    second = await call.read()
    assert isinstance(second, pb.RouteTable)
    assert list(second.experiments) == [pb.ExperimentRoute(spec=experiment_to_proto(AB), uid=uid)]
    changed = experiment_to_proto(experiment("ab", ("a", 1), ("b", 1)))
    new_uid = (await _start(stub, changed)).uid
    third = await call.read()
    assert isinstance(third, pb.RouteTable)
    assert [(r.spec, r.uid) for r in third.experiments] == [(changed, new_uid)]
    await stub.StopExperiment(pb.StopExperimentRequest(name="ab"))
    fourth = await call.read()
    assert isinstance(fourth, pb.RouteTable)
    assert (fourth.generation, list(fourth.experiments)) == (4, [])
    call.cancel()
