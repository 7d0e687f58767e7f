"""Pipelines through the gateway's REST door, end to end on loopback with a MemoryBus behind.

The REST app is the gateway's own (`GatewayRest` with the pipeline routes mounted), so what is
checked is what a client reads: statuses, bodies byte for byte, the headers that identify the
request, and that `x.pipeline` is not taken for a model name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from prometheus_client import generate_latest

from gateway.balancer import Balancer
from gateway.config import GatewayConfig
from gateway.metrics import GatewayMetrics
from gateway.pipeline.rest_routes import PipelineRoutes
from gateway.proxy import Proxy
from gateway.rest import GatewayRest
from gateway.targets import Targets
from gateway.upstream import Upstream
from loadmaster.kafka.records import ErrorRecord, envelope_of
from tests.gateway.fakes import HEADER_LENGTH, start_app, until
from tests.gateway.pipeline.front_rig import FrontRig, entry, make_front_rig

LIMIT = 4096
INFER = {"id": "q-7", "inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2]}]}


@dataclass
class RestRig:
    pipes: FrontRig
    client: aiohttp.ClientSession
    url: str

    def requests(self, code: str, pipeline: str = "chain") -> float:
        labels = {"pipeline": pipeline, "protocol": "rest", "code": code}
        return self.pipes.sample("loadmaster_gateway_pipeline_requests_total", **labels)


@contextlib.asynccontextmanager
async def rest_rig(**front: object) -> AsyncIterator[RestRig]:
    async with make_front_rig(**front) as pipes:  # type: ignore[arg-type]
        metrics = GatewayMetrics(pipes.registry)
        config = GatewayConfig(http_port=0, max_body_bytes=LIMIT)
        upstream = Upstream(connections_per_endpoint=2)
        routes = PipelineRoutes(pipes.front, LIMIT)
        rest = GatewayRest(
            config,
            Targets(config.scheduler),
            Proxy(Balancer(), metrics),
            upstream,
            metrics,
            lambda: generate_latest(pipes.registry),
            mount_pipelines=routes.mount,
        )
        runner, address = await start_app(rest.app())
        try:
            async with aiohttp.ClientSession() as client:
                yield RestRig(pipes, client, f"http://{address}")
        finally:
            await runner.cleanup()
            await upstream.close()


@pytest.fixture
async def rig() -> AsyncIterator[RestRig]:
    async with rest_rig() as made:
        await made.pipes.servable()
        yield made


async def read(response: aiohttp.ClientResponse) -> tuple[int, dict[str, object]]:
    return response.status, json.loads(await response.read())


async def test_a_json_request_is_answered_with_the_pipelines_body(rig: RestRig) -> None:
    raw = json.dumps(INFER).encode()
    async with rig.client.post(
        f"{rig.url}/v2/pipelines/chain/infer", data=raw, headers={"x-request-id": "mine"}
    ) as r:
        body = await r.read()
        assert r.status == 200 and r.content_type == "application/json"
        assert HEADER_LENGTH not in r.headers
        pipeline_id = r.headers["x-pipeline-request-id"]
        assert r.headers["x-request-id"] == "mine"
    [record] = rig.pipes.inputs()
    assert record.value == raw
    assert envelope_of(record).request == pipeline_id
    assert envelope_of(record).client_request == "mine"
    doc = json.loads(body)
    assert doc["id"] == "q-7" and doc["outputs"][0]["data"] == [1.0, 2.0]
    assert rig.requests("200") == 1


async def test_a_binary_request_by_its_model_name_comes_back_binary(rig: RestRig) -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [2],
                    "parameters": {"binary_data_size": 8},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    raw = header + struct.pack("<2f", 1.5, -2.0)
    async with rig.client.post(
        f"{rig.url}/v2/models/chain.pipeline/infer",
        data=raw,
        headers={HEADER_LENGTH: str(len(header))},
    ) as r:
        body = await r.read()
        assert r.status == 200 and r.content_type == "application/octet-stream"
        length = int(r.headers[HEADER_LENGTH])
        # no client id: the pipeline request id identifies the request
        assert r.headers["x-request-id"] == r.headers["x-pipeline-request-id"]
    assert body[length:] == struct.pack("<2f", 1.5, -2.0)
    assert envelope_of(rig.pipes.inputs()[0]).header_length == len(header)


async def test_a_failing_step_answers_its_status_with_the_step_and_model(rig: RestRig) -> None:
    rig.pipes.fake.error = ErrorRecord("chain", "first", "m1", 400, "input 'x' has shape [2]")
    async with rig.client.post(f"{rig.url}/v2/pipelines/chain/infer", json=INFER) as r:
        assert await read(r) == (
            400,
            {
                "error": "pipeline 'chain' step 'first' (model 'm1'): input 'x' has shape [2]",
                "pipeline": "chain",
                "step": "first",
                "model": "m1",
            },
        )
        assert r.headers["x-pipeline-request-id"] == r.headers["x-request-id"]
    assert rig.requests("400") == 1


async def test_the_client_deadline_gives_a_504(rig: RestRig) -> None:
    rig.pipes.fake.silent = True
    headers = {"x-request-timeout-ms": "30"}
    async with rig.client.post(
        f"{rig.url}/v2/pipelines/chain/infer", json=INFER, headers=headers
    ) as r:
        status, body = await read(r)
    assert status == 504
    assert str(body["error"]).startswith("pipeline 'chain': no answer within 30 ms (request id ")


async def test_bad_requests_are_400_and_never_produced(rig: RestRig) -> None:
    url = f"{rig.url}/v2/pipelines/chain/infer"
    async with rig.client.post(url, data=b"\x00garbage") as r:
        status, body = await read(r)
        assert status == 400 and body["pipeline"] == "chain"
    async with rig.client.post(url, json=INFER, headers={"x-request-timeout-ms": "soon"}) as r:
        status, body = await read(r)
        assert status == 400 and "x-request-timeout-ms" in str(body["error"])
    async with rig.client.post(url, json=INFER, headers={HEADER_LENGTH: "-1"}) as r:
        assert r.status == 400
    async with rig.client.post(url, data=b"x" * (LIMIT + 1)) as r:
        status, body = await read(r)
        assert status == 413 and "limit" in str(body["error"])
    assert rig.pipes.inputs() == []


async def test_a_client_that_hangs_up_stops_the_wait(rig: RestRig) -> None:
    rig.pipes.fake.silent = True
    call = asyncio.create_task(
        rig.client.post(f"{rig.url}/v2/pipelines/chain/infer", json=INFER).__aenter__()
    )
    await until(lambda: rig.pipes.front.waiting == 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await until(lambda: rig.pipes.front.waiting == 0)
    await until(lambda: rig.requests("499") == 1)


async def test_status_and_readiness_of_a_pipeline() -> None:
    slow = entry("slow", "PipelineWaiting", "waiting for models: m2 (not loaded)")
    async with rest_rig(pipelines=(entry(), slow)) as rig:
        await rig.pipes.servable()
        async with rig.client.get(f"{rig.url}/v2/pipelines/chain") as r:
            assert await read(r) == (
                200,
                {
                    "name": "chain",
                    "version": 3,
                    "state": "PipelineReady",
                    "reason": "",
                    "ready": True,
                },
            )
        for path in ("/v2/pipelines/chain/ready", "/v2/models/chain.pipeline/ready"):
            async with rig.client.get(f"{rig.url}{path}") as r:
                assert await read(r) == (200, {"name": "chain", "ready": True})
        async with rig.client.get(f"{rig.url}/v2/pipelines/slow/ready") as r:
            status, body = await read(r)
            assert status == 503 and body["ready"] is False
            assert "waiting for models: m2 (not loaded)" in str(body["error"])
        async with rig.client.get(f"{rig.url}/v2/models/chain.pipeline") as r:
            status, body = await read(r)
            assert status == 200 and body["name"] == "chain.pipeline" and body["versions"] == ["3"]
        for path in ("/v2/pipelines/nope", "/v2/pipelines/nope/ready"):
            async with rig.client.get(f"{rig.url}{path}") as r:
                assert await read(r) == (404, {"error": "pipeline 'nope' not found"})
        async with rig.client.post(f"{rig.url}/v2/pipelines/nope/infer", json=INFER) as r:
            assert await read(r) == (
                404,
                {"error": "pipeline 'nope' not found", "pipeline": "nope"},
            )
        assert rig.requests("404", "(unknown)") == 1


async def test_without_kafka_pipelines_answer_503_and_models_are_untouched() -> None:
    async with rest_rig(kafka=False) as rig:
        async with rig.client.post(f"{rig.url}/v2/models/chain.pipeline/infer", json=INFER) as r:
            status, body = await read(r)
            assert status == 503
            assert body["error"] == "pipelines need Kafka: start the gateway with --kafka-bootstrap"
        async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
            status, body = await read(r)
            assert status == 503 and "route table" in str(body["error"])  # the model path
