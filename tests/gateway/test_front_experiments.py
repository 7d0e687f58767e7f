"""Experiments through both front doors: the split, the route header, stickiness, the mirror
and the per-candidate metrics, with fake agents behind a gateway on loopback."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from gateway.experiments import Candidate, Experiment, Mirror
from loadmaster.generated.inference import grpc_service_pb2 as pb
from tests.gateway.fakes import until
from tests.gateway.grpc_rig import GrpcRig, grpc_endpoint, make_grpc_rig
from tests.gateway.rig import Rig, endpoint, make_rig, route

INFER = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [1.0]}]}
AB = Experiment(
    "ab", 5, "iris", (Candidate("iris", 50), Candidate("iris-v2", 50)), Mirror("shadow", 100)
)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for made in make_rig(split_rng=random.Random(11)):
        yield made


@pytest.fixture
async def grpc_rig() -> AsyncIterator[GrpcRig]:
    async for made in make_grpc_rig():
        yield made


async def test_rest_split_route_header_sticky_and_mirror(rig: Rig) -> None:
    a, b, m = await rig.agent("a"), await rig.agent("b"), await rig.agent("m")
    rig.routes(
        route("iris", endpoint(a)),
        route("iris-v2", endpoint(b)),
        route("shadow", endpoint(m)),
        experiments=(AB,),
    )
    chosen: list[str] = []
    for _ in range(40):
        async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
            assert r.status == 200
            body = await r.json()
            chosen.append(r.headers["x-loadmaster-route"])
            # the candidate that answered is the one the header names
            assert body["server"] == {"iris": "a", "iris-v2": "b"}[chosen[-1]]
    assert {"iris", "iris-v2"} == set(chosen)
    assert all(s.path == "/v2/models/iris-v2/infer" for s in b.seen)  # renamed on the way
    await until(lambda: len(m.seen) == 40)  # mirror at 100 %: every request copied
    assert {s.path for s in m.seen} == {"/v2/models/shadow/infer"}

    headers = {"x-loadmaster-route": "iris-v2"}
    for _ in range(10):
        url = f"{rig.url}/v2/models/ab.experiment/infer"
        async with rig.client.post(url, json=INFER, headers=headers) as r:
            assert (r.status, r.headers["x-loadmaster-route"]) == (200, "iris-v2")

    total = rig.targets.counts.get("ab", 5, "iris") + rig.targets.counts.get("ab", 5, "iris-v2")
    assert total == 50
    requests = "loadmaster_gateway_experiment_requests_total"
    by_candidate = [
        rig.sample(requests, experiment="ab", candidate=c, code="200") for c in ("iris", "iris-v2")
    ]
    assert sum(by_candidate) == 50 and by_candidate[1] >= 10
    await until(
        lambda: (
            rig.registry.get_sample_value(
                "loadmaster_gateway_mirrored_requests_total",
                {"experiment": "ab", "model": "shadow", "outcome": "sent"},
            )
            == 50
        )
    )


async def test_rest_metadata_through_an_experiment_is_not_counted(rig: Rig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    rig.routes(route("iris", endpoint(a)), route("iris-v2", endpoint(b)), experiments=(AB,))
    async with rig.client.get(f"{rig.url}/v2/models/iris") as r:
        assert r.status == 200
    async with rig.client.get(f"{rig.url}/v2/models/ab.experiment/ready") as r:
        assert (r.status, (await r.json())["ready"]) == (200, True)
    assert rig.targets.counts.report("g", "i").traffic == []


async def test_rest_unknown_experiment_is_404(rig: Rig) -> None:
    rig.routes()
    async with rig.client.post(f"{rig.url}/v2/models/zz.experiment/infer", json=INFER) as r:
        assert (r.status, await r.json()) == (
            404,
            {"error": "experiment 'zz.experiment' not found"},
        )


async def test_grpc_request_is_renamed_for_the_candidate_and_route_in_trailers(
    grpc_rig: GrpcRig,
) -> None:
    a, b = await grpc_rig.agent("a"), await grpc_rig.agent("b")
    only_v2 = Experiment("ab", 5, "", (Candidate("iris", 1), Candidate("iris-v2", 1)))
    grpc_rig.routes(
        route("iris", grpc_endpoint(a)), route("iris-v2", grpc_endpoint(b)), experiments=(only_v2,)
    )
    request = pb.ModelInferRequest(model_name="ab.experiment", model_version="3", id="r")
    call = grpc_rig.stub.ModelInfer(request, metadata=(("x-loadmaster-route", "iris-v2"),))
    response = await call
    assert (response.model_name, response.model_version) == ("iris-v2", "")
    assert dict(await call.trailing_metadata())["x-loadmaster-route"] == "iris-v2"
    [(_, raw, _)] = b.seen
    assert pb.ModelInferRequest.FromString(raw).model_name == "iris-v2"
    assert not a.seen
    assert (
        grpc_rig.sample(
            "loadmaster_gateway_experiment_requests_total",
            experiment="ab",
            candidate="iris-v2",
            code="OK",
        )
        == 1
    )
