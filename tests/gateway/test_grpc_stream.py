"""ModelStreamInfer through the gateway: one upstream per model, answers relayed as they come.

The client writes requests on a bidirectional stream (the generated async stub) and reads
what comes back; fake agents answer each request with two parts, optionally holding the
second back behind a gate, or failing their stream after the first request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from loadmaster.generated.inference import grpc_service_pb2 as pb
from tests.gateway.fakes import WAIT_S, until
from tests.gateway.grpc_rig import GrpcRig, grpc_endpoint, make_grpc_rig
from tests.gateway.rig import route

Stream = grpc.aio.StreamStreamCall[pb.ModelInferRequest, pb.ModelStreamInferResponse]


@pytest.fixture
async def rig() -> AsyncIterator[GrpcRig]:
    async for made in make_grpc_rig():
        yield made


def request(model: str, request_id: str, version: str = "") -> pb.ModelInferRequest:
    return pb.ModelInferRequest(model_name=model, model_version=version, id=request_id)


async def read(stream: Stream) -> pb.ModelStreamInferResponse:
    async with asyncio.timeout(WAIT_S):
        answer = await stream.read()
    assert isinstance(answer, pb.ModelStreamInferResponse), answer
    return answer


def described(answer: pb.ModelStreamInferResponse) -> tuple[str, ...]:
    """(id, part, server) of an answer, or ("error", message) of an error."""
    if answer.error_message:
        return ("error", answer.error_message)
    response = answer.infer_response
    part = response.parameters["part"].int64_param
    return (response.id, str(part), response.parameters["server"].string_param)


async def all_answers(stream: Stream) -> list[tuple[str, ...]]:
    """Every answer left, until the gateway ends the call."""
    answers = []
    async with asyncio.timeout(WAIT_S):
        while (answer := await stream.read()) is not grpc.aio.EOF:
            assert isinstance(answer, pb.ModelStreamInferResponse)
            answers.append(described(answer))
    return answers


async def test_one_upstream_per_model_and_answers_in_order_per_model(rig: GrpcRig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    rig.routes(route("iris", grpc_endpoint(a)), route("mlp", grpc_endpoint(b)))
    stream: Stream = rig.stub.ModelStreamInfer(metadata=(("x-request-id", "s-9"),))
    for model, rid in (("iris", "1"), ("mlp", "2"), ("iris", "3")):
        await stream.write(request(model, rid))
    await stream.done_writing()
    answers = await all_answers(stream)
    assert [x for x in answers if x[2] == "a"] == [
        ("1", "0", "a"), ("1", "1", "a"), ("3", "0", "a"), ("3", "1", "a"),
    ]  # fmt: skip
    assert [x for x in answers if x[2] == "b"] == [("2", "0", "b"), ("2", "1", "b")]
    assert (a.streams, b.streams) == (1, 1)  # one upstream each, opened on demand
    assert [s[1] for s in a.seen] == [request("iris", r).SerializeToString() for r in "13"]
    assert {s[2]["x-request-id"] for s in a.seen + b.seen} == {"s-9"}
    assert dict(await stream.initial_metadata())["x-request-id"] == "s-9"
    assert await stream.code() is grpc.StatusCode.OK
    await until(lambda: rig.balancer.outstanding(grpc_endpoint(a)) == 0)
    assert rig.sample("loadmaster_gateway_requests_total", model="iris", code="OK") == 2


async def test_requests_that_cannot_be_routed_answer_in_the_stream(rig: GrpcRig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", grpc_endpoint(a)), route("mlp", state="ModelProgressing"))
    stream: Stream = rig.stub.ModelStreamInfer()
    await stream.write(request("nope", "1"))
    assert described(await read(stream)) == ("error", "model 'nope' not found")
    await stream.write(request("mlp", "2"))
    assert described(await read(stream)) == (
        "error",
        "model 'mlp' has no ready replica (ModelProgressing)",
    )
    await stream.write(request("iris", "3", version="x"))
    assert "whole number, got 'x'" in described(await read(stream))[1]
    await stream.write(request("iris", "4"))  # the stream goes on serving
    await stream.done_writing()
    assert await all_answers(stream) == [("4", "0", "a"), ("4", "1", "a")]
    assert rig.sample("loadmaster_gateway_requests_total", model="(unknown)", code="NOT_FOUND") == 1


async def test_answers_are_relayed_before_the_agent_finishes(rig: GrpcRig) -> None:
    a = await rig.agent("a")
    a.gate = asyncio.Event()
    rig.routes(route("iris", grpc_endpoint(a)))
    stream: Stream = rig.stub.ModelStreamInfer()
    await stream.write(request("iris", "1"))
    assert described(await read(stream)) == ("1", "0", "a")  # part 1 is still held back
    a.gate.set()
    assert described(await read(stream)) == ("1", "1", "a")
    await stream.done_writing()
    assert await all_answers(stream) == []


async def test_a_failed_upstream_is_reported_and_the_next_request_opens_a_new_one(
    rig: GrpcRig,
) -> None:
    a = await rig.agent("a")
    a.fail_streams = 1
    rig.routes(route("iris", grpc_endpoint(a)))
    stream: Stream = rig.stub.ModelStreamInfer()
    await stream.write(request("iris", "1"))
    first = [described(await read(stream)) for _ in range(3)]
    assert first[:2] == [("1", "0", "a"), ("1", "1", "a")]
    assert first[2] == (
        "error",
        "model 'iris': replica on server 'a' (version 1) ended the stream: "
        "UNAVAILABLE: a went away",
    )
    await until(lambda: rig.balancer.outstanding(grpc_endpoint(a)) == 0)
    await stream.write(request("iris", "2"))
    await stream.done_writing()
    assert await all_answers(stream) == [("2", "0", "a"), ("2", "1", "a")]
    assert a.streams == 2
    kind = {"model": "iris", "kind": "not_ready"}
    assert rig.sample("loadmaster_gateway_upstream_errors_total", **kind) == 1


async def test_client_cancelling_ends_the_upstream(rig: GrpcRig) -> None:
    a = await rig.agent("a")
    a.gate = asyncio.Event()
    rig.routes(route("iris", grpc_endpoint(a)))
    stream: Stream = rig.stub.ModelStreamInfer()
    await stream.write(request("iris", "1"))
    await read(stream)
    assert rig.balancer.outstanding(grpc_endpoint(a)) == 1
    stream.cancel()
    async with asyncio.timeout(WAIT_S):
        await a.cancelled.wait()
    await until(lambda: rig.balancer.outstanding(grpc_endpoint(a)) == 0)


async def test_a_renamed_model_streams_to_the_model_that_serves_it(
    rig: GrpcRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", grpc_endpoint(a)))
    lookup = rig.targets.resolve
    monkeypatch.setattr(rig.targets, "resolve", lambda n: lookup("iris" if n == "alias" else n))
    stream: Stream = rig.stub.ModelStreamInfer()
    await stream.write(request("alias", "1", version="4"))
    await stream.done_writing()
    assert await all_answers(stream) == [("1", "0", "a"), ("1", "1", "a")]
    forwarded = pb.ModelInferRequest.FromString(a.seen[0][1])
    assert (forwarded.model_name, forwarded.model_version) == ("iris", "")
