"""The gRPC front door end to end: the generated async stub as client, fake agents behind.

What is checked is what a gRPC client reads: status codes and details, answers (and which
replica gave them), the bytes and metadata the agent received, and the metrics counted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import grpc
import pytest

import loadmaster
from gateway.routes import Route
from loadmaster.generated.inference import grpc_service_pb2 as pb
from tests.gateway.fakes import WAIT_S, closed_port, until
from tests.gateway.grpc_rig import LIMIT, GrpcRig, grpc_endpoint, make_grpc_rig
from tests.gateway.rig import route

Code = grpc.StatusCode


@pytest.fixture
async def rig() -> AsyncIterator[GrpcRig]:
    async for made in make_grpc_rig():
        yield made


def infer_request(
    model: str = "iris", version: str = "", request_id: str = "q-1"
) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, model_version=version, id=request_id)
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 2])
    tensor.parameters["binary_data_size"].int64_param = 8
    request.raw_input_contents.append(b"\x00\x00\xc0?\x00\x00\x00\xc0")
    return request


async def failure(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value.code(), info.value.details() or ""


def server_of(response: pb.ModelInferResponse) -> str:
    return response.parameters["server"].string_param


async def test_health_and_server_metadata(rig: GrpcRig) -> None:
    assert (await rig.stub.ServerLive(pb.ServerLiveRequest())).live
    assert not (await rig.stub.ServerReady(pb.ServerReadyRequest())).ready
    rig.routes()
    assert (await rig.stub.ServerReady(pb.ServerReadyRequest())).ready
    meta = await rig.stub.ServerMetadata(pb.ServerMetadataRequest())
    assert (meta.name, meta.version) == ("loadmaster-gateway", loadmaster.__version__)
    assert "binary_tensor_data" in meta.extensions


async def test_infer_is_forwarded_byte_for_byte_with_a_request_id(rig: GrpcRig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", grpc_endpoint(a)))
    request = infer_request()
    call = rig.stub.ModelInfer(request, metadata=(("traceparent", "00-ab-cd-01"),))
    response = await call
    assert (server_of(response), response.model_name, response.id) == ("a", "iris", "q-1")
    request_id = dict(await call.initial_metadata())["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", str(request_id))  # created by the gateway
    [(method, raw, metadata)] = a.seen
    assert (method, raw) == ("ModelInfer", request.SerializeToString())
    assert metadata["x-request-id"] == request_id
    assert metadata["traceparent"] == "00-ab-cd-01"

    call = rig.stub.ModelInfer(request, metadata=(("x-request-id", "client-7"),))
    await call
    assert dict(await call.initial_metadata())["x-request-id"] == "client-7"
    assert a.seen[1][2]["x-request-id"] == "client-7"


@pytest.mark.parametrize(
    ("routes", "model", "version", "code", "details"),
    [
        (None, "iris", "", Code.UNAVAILABLE, "no route table from the scheduler"),
        ((), "nope", "", Code.NOT_FOUND, "model 'nope' not found"),
        (
            (route("iris", state="ModelProgressing", reason="loading on a"),),
            "iris",
            "",
            Code.UNAVAILABLE,
            "model 'iris' has no ready replica (ModelProgressing: loading on a)",
        ),
        ((route("iris"),), "iris", "v1", Code.INVALID_ARGUMENT, "whole number, got 'v1'"),
        ((route("iris"),), "", "", Code.INVALID_ARGUMENT, "the request names no model"),
    ],
)
async def test_requests_that_cannot_be_routed(
    rig: GrpcRig,
    routes: tuple[Route, ...] | None,
    model: str,
    version: str,
    code: grpc.StatusCode,
    details: str,
) -> None:
    if routes is not None:
        rig.routes(*routes)
    got = await failure(rig.stub.ModelInfer(infer_request(model, version)))
    assert got[0] == code and details in got[1]


@pytest.mark.parametrize("raw", [b"\x80", b"\x0a\x05ab", b"\x08\x01", b"\x0a\x02\xff\xfe", b"\x0b"])
async def test_malformed_bytes_are_invalid_argument(rig: GrpcRig, raw: bytes) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", grpc_endpoint(a)))
    code, details = await failure(rig.raw("ModelInfer")(raw))
    assert code is Code.INVALID_ARGUMENT and details.startswith("malformed request")
    assert a.seen == []
    assert (
        rig.sample("loadmaster_gateway_requests_total", model="(unknown)", code="INVALID_ARGUMENT")
        == 1
    )


async def test_versions_route_to_their_replicas(rig: GrpcRig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    rig.routes(route("iris", grpc_endpoint(a, 1), grpc_endpoint(b, 2)))
    assert server_of(await rig.stub.ModelInfer(infer_request(version="2"))) == "b"
    assert server_of(await rig.stub.ModelInfer(infer_request(version="1"))) == "a"
    code, details = await failure(rig.stub.ModelInfer(infer_request(version="3")))
    assert (code, details) == (
        Code.UNAVAILABLE,
        "model 'iris' version '3' has no ready replica (ModelAvailable)",
    )


async def test_retry_after_connection_refused(rig: GrpcRig) -> None:
    b = await rig.agent("b")
    rig.routes(route("iris", grpc_endpoint(f"a@{closed_port()}"), grpc_endpoint(b)))
    assert server_of(await rig.stub.ModelInfer(infer_request())) == "b"
    assert rig.sample("loadmaster_gateway_retries_total", model="iris") == 1
    unreachable = {"model": "iris", "kind": "unreachable"}
    assert rig.sample("loadmaster_gateway_upstream_errors_total", **unreachable) == 1


@pytest.mark.parametrize(
    ("status", "kind"), [(Code.UNAVAILABLE, "not_ready"), (Code.NOT_FOUND, "not_found")]
)
async def test_retry_after_not_ready_or_not_found(
    rig: GrpcRig, status: grpc.StatusCode, kind: str
) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.status = status
    rig.routes(route("iris", grpc_endpoint(a), grpc_endpoint(b)))
    assert server_of(await rig.stub.ModelInfer(infer_request())) == "b"
    assert (len(a.seen), len(b.seen)) == (1, 1)
    assert a.seen[0][2]["x-request-id"] == b.seen[0][2]["x-request-id"]
    assert rig.sample("loadmaster_gateway_upstream_errors_total", model="iris", kind=kind) == 1


@pytest.mark.parametrize("status", [Code.INVALID_ARGUMENT, Code.INTERNAL, Code.RESOURCE_EXHAUSTED])
async def test_other_agent_statuses_pass_through_unretried(
    rig: GrpcRig, status: grpc.StatusCode
) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.status, a.details = status, "the model says no"
    rig.routes(route("iris", grpc_endpoint(a), grpc_endpoint(b)))
    assert await failure(rig.stub.ModelInfer(infer_request())) == (status, "the model says no")
    assert (len(a.seen), len(b.seen)) == (1, 0)
    assert rig.sample("loadmaster_gateway_requests_total", model="iris", code=status.name) == 1


async def test_both_replicas_failing_is_unavailable_naming_both(rig: GrpcRig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.status = b.status = Code.UNAVAILABLE
    rig.routes(route("iris", grpc_endpoint(a), grpc_endpoint(b)))
    code, details = await failure(rig.stub.ModelInfer(infer_request()))
    assert code is Code.UNAVAILABLE
    assert details.startswith("model 'iris' could not be served: replica on server 'a'")
    assert "a says UNAVAILABLE" in details and "b says UNAVAILABLE" in details


async def test_the_client_deadline_names_the_model_and_cancels_the_agent_call(
    rig: GrpcRig,
) -> None:
    a = await rig.agent("a")
    a.delay_s = WAIT_S
    rig.routes(route("iris", grpc_endpoint(a)))
    code, details = await failure(rig.stub.ModelInfer(infer_request(), timeout=0.5))
    assert code is Code.DEADLINE_EXCEEDED
    assert re.fullmatch(r"deadline of \d+ ms exceeded waiting for model 'iris'", details)
    async with asyncio.timeout(WAIT_S):
        await a.cancelled.wait()
    await until(lambda: rig.balancer.outstanding(grpc_endpoint(a)) == 0)
    timeout = {"model": "iris", "kind": "timeout"}
    assert rig.sample("loadmaster_gateway_upstream_errors_total", **timeout) == 1


async def test_without_a_deadline_the_upstream_timeout_applies() -> None:
    async for rig in make_grpc_rig(upstream_timeout_s=0.05):
        a = await rig.agent("a")
        a.delay_s = WAIT_S
        rig.routes(route("iris", grpc_endpoint(a)))
        assert await failure(rig.stub.ModelInfer(infer_request())) == (
            Code.DEADLINE_EXCEEDED,
            "upstream timeout of 0.05 s exceeded waiting for model 'iris'",
        )


async def test_client_cancelling_cancels_the_agent_call(rig: GrpcRig) -> None:
    a = await rig.agent("a")
    a.delay_s = WAIT_S
    rig.routes(route("iris", grpc_endpoint(a)))
    call = rig.stub.ModelInfer(infer_request())
    await until(lambda: bool(a.seen))
    call.cancel()
    async with asyncio.timeout(WAIT_S):
        await a.cancelled.wait()
    await until(lambda: rig.balancer.outstanding(grpc_endpoint(a)) == 0)


async def test_a_message_over_the_limit_is_resource_exhausted(rig: GrpcRig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", grpc_endpoint(a)))
    request = infer_request()
    request.raw_input_contents.append(b"x" * LIMIT)
    code, details = await failure(rig.stub.ModelInfer(request))
    assert code is Code.RESOURCE_EXHAUSTED and str(LIMIT) in details
    assert a.seen == []


async def test_model_ready_from_the_table(rig: GrpcRig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", grpc_endpoint(a)), route("mlp", state="ModelProgressing"))
    assert (await rig.stub.ModelReady(pb.ModelReadyRequest(name="iris"))).ready
    assert (await rig.stub.ModelReady(pb.ModelReadyRequest(name="iris", version="1"))).ready
    assert not (await rig.stub.ModelReady(pb.ModelReadyRequest(name="iris", version="2"))).ready
    assert not (await rig.stub.ModelReady(pb.ModelReadyRequest(name="mlp"))).ready
    code, details = await failure(rig.stub.ModelReady(pb.ModelReadyRequest(name="nope")))
    assert (code, details) == (Code.NOT_FOUND, "model 'nope' not found")
    assert a.seen == []  # answered by the gateway


async def test_model_metadata_is_forwarded(rig: GrpcRig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", grpc_endpoint(a)))
    meta = await rig.stub.ModelMetadata(pb.ModelMetadataRequest(name="iris"))
    assert (meta.name, meta.platform) == ("iris", "a")
    assert [s[0] for s in a.seen] == ["ModelMetadata"]


async def test_repository_calls_point_at_the_scheduler(rig: GrpcRig) -> None:
    calls = [
        rig.stub.RepositoryIndex(pb.RepositoryIndexRequest()),
        rig.stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="iris")),
        rig.stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="iris")),
    ]
    for call in calls:
        code, details = await failure(call)
        assert code is Code.UNIMPLEMENTED and "loadmaster model load" in details


async def test_a_name_resolved_to_another_model_is_renamed_on_the_way(
    rig: GrpcRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", grpc_endpoint(a)))
    table_lookup = rig.targets.resolve
    monkeypatch.setattr(
        rig.targets, "resolve", lambda name: table_lookup("iris" if name == "alias" else name)
    )
    response = await rig.stub.ModelInfer(infer_request("alias", version="7"))
    assert (server_of(response), response.model_name, response.model_version) == ("a", "iris", "")
    forwarded = pb.ModelInferRequest.FromString(a.seen[0][1])
    assert forwarded.raw_input_contents == infer_request().raw_input_contents


async def test_metrics_count_grpc_requests(rig: GrpcRig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", grpc_endpoint(a)))
    for _ in range(2):
        await rig.stub.ModelInfer(infer_request())
    await failure(rig.stub.ModelInfer(infer_request("nope")))
    assert rig.sample("loadmaster_gateway_requests_total", model="iris", code="OK") == 2
    assert rig.sample("loadmaster_gateway_requests_total", model="(unknown)", code="NOT_FOUND") == 1
    assert rig.sample("loadmaster_gateway_request_seconds_count", model="iris") == 2
