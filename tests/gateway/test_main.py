"""The gateway process and its command: starts, follows, serves, and stops on request."""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.request

import grpc
import pytest

import gateway.main
from gateway.config import GatewayConfig
from loadmaster.cli.main import build_parser, main
from loadmaster.generated.inference import grpc_service_pb2 as inference
from loadmaster.generated.inference import grpc_service_pb2_grpc as inference_grpc
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from loadmaster.kafka.config import KafkaConfig
from loadmaster.resources.pipeline_spec import PipelineSpec, PipelineStep, pipeline_to_proto
from tests.gateway.fakes import (
    WAIT_S,
    FakeRoutes,
    Script,
    closed_port,
    model_route,
    table,
    until,
)
from tests.gateway.pipeline.front_rig import DownBus


def free_port() -> int:
    return int(closed_port().rsplit(":", 1)[1])


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT_S) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_serve_follows_the_scheduler_and_stops() -> None:
    fake = FakeRoutes()
    server = grpc.aio.server()
    admin_pb2_grpc.add_SchedulerAdminServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    gate = asyncio.Event()
    await fake.scripts.put(Script([table(1, model_route("iris"))], hold=True, gate=gate))
    http_port, grpc_port = free_port(), free_port()
    config = GatewayConfig(
        name="gw-t", scheduler=f"127.0.0.1:{port}", http_port=http_port, grpc_port=grpc_port
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(gateway.main.serve(config, stop))
    base = f"http://127.0.0.1:{http_port}"
    try:
        await until(lambda: bool(fake.subscribers))
        assert fake.subscribers == ["gw-t"]
        assert await asyncio.to_thread(get, f"{base}/v2/health/ready") == (503, {"ready": False})
        gate.set()
        async with asyncio.timeout(WAIT_S):
            status = 503
            while status != 200:
                status, _ = await asyncio.to_thread(get, f"{base}/v2/health/ready")
        status, body = await asyncio.to_thread(get, f"{base}/v2/models/iris/ready")
        assert status == 503 and body["ready"] is False  # known, with no replica
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub: inference_grpc.GRPCInferenceServiceAsyncStub = (
                inference_grpc.GRPCInferenceServiceStub(channel)
            )
            assert (await stub.ServerReady(inference.ServerReadyRequest())).ready
            ready = await stub.ModelReady(inference.ModelReadyRequest(name="iris"))
            assert not ready.ready
    finally:
        stop.set()
        async with asyncio.timeout(WAIT_S):
            await serving
        await server.stop(grace=None)


def test_gateway_command_builds_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOADMASTER_KAFKA_BOOTSTRAP", raising=False)
    seen: list[GatewayConfig] = []

    def run(config: GatewayConfig) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(gateway.main, "run", run)
    argv = ["gateway", "--name", "g2", "--scheduler", "sched:1", "--http-port", "0"]
    assert main([*argv, "--host", "0.0.0.0", "--grpc-port", "9600", "--max-body", "1Mi"]) == 0
    assert seen == [
        GatewayConfig(
            name="g2",
            scheduler="sched:1",
            host="0.0.0.0",
            http_port=0,
            grpc_port=9600,
            max_body_bytes=1024 * 1024,
        )
    ]


def test_gateway_command_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOADMASTER_SCHEDULER", raising=False)
    args = build_parser().parse_args(["gateway"])
    assert (args.name, args.scheduler, args.http_port, args.grpc_port, args.max_body) == (
        "gateway",
        "127.0.0.1:9004",
        9000,
        9500,
        64 * 1024 * 1024,
    )
    monkeypatch.setenv("LOADMASTER_SCHEDULER", "elsewhere:9004")
    assert build_parser().parse_args(["gateway"]).scheduler == "elsewhere:9004"


def test_gateway_command_turns_pipelines_on_with_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[GatewayConfig] = []

    def run(config: GatewayConfig) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(gateway.main, "run", run)
    argv = ["gateway", "--kafka-bootstrap", "k:9092", "--kafka-prefix", "lm"]
    assert main([*argv, "--pipeline-timeout", "2.5"]) == 0
    [config] = seen
    assert config.kafka == KafkaConfig(bootstrap="k:9092", prefix="lm")
    assert config.pipeline_timeout_s == 2.5


@pytest.mark.parametrize(
    "flags",
    [
        ["--http-port", "70000"],
        ["--grpc-port", "-1"],
        ["--max-body", "lots"],
        ["--pipeline-timeout", "0"],
    ],
)
def test_gateway_command_refuses_bad_flags(flags: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["gateway", *flags])
    assert exc.value.code == 2


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        GatewayConfig(max_body_bytes=0)
    with pytest.raises(ValueError, match="upstream_timeout_s"):
        GatewayConfig(upstream_timeout_s=0)
    with pytest.raises(ValueError, match="pipeline_timeout_s"):
        GatewayConfig(pipeline_timeout_s=-1)
    assert isinstance(build_parser(), argparse.ArgumentParser)


async def test_an_unreachable_broker_leaves_models_served_and_pipelines_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kafka configured but down: the gateway starts, models route, pipelines say why not."""
    monkeypatch.setattr(gateway.main, "kafka_bus", lambda config: DownBus())
    fake = FakeRoutes()
    server = grpc.aio.server()
    admin_pb2_grpc.add_SchedulerAdminServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    spec = PipelineSpec("chain", (PipelineStep("first", "iris"),))
    routes = table(1, model_route("iris"))
    routes.pipelines.add(spec=pipeline_to_proto(spec), version=1, state="PipelineReady")
    await fake.scripts.put(Script([routes], hold=True))
    http_port = free_port()
    config = GatewayConfig(
        name="gw-k",
        scheduler=f"127.0.0.1:{port}",
        http_port=http_port,
        grpc_port=free_port(),
        kafka=KafkaConfig(bootstrap="127.0.0.1:1"),
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(gateway.main.serve(config, stop))
    base = f"http://127.0.0.1:{http_port}"
    try:
        await until(lambda: bool(fake.subscribers))  # serving: the table is on its way
        async with asyncio.timeout(WAIT_S):
            status, body = 0, dict[str, object]()
            while status != 503 or "unreachable" not in str(body.get("error")):
                status, body = await asyncio.to_thread(get, f"{base}/v2/pipelines/chain/ready")
        assert "pipeline 'chain' is starting: Kafka at 127.0.0.1:1 is unreachable" in str(
            body["error"]
        )
        status, body = await asyncio.to_thread(get, f"{base}/v2/models/iris/ready")
        assert status == 503 and body["ready"] is False  # the model path answers as ever
    finally:
        stop.set()
        async with asyncio.timeout(WAIT_S):
            await serving
        await server.stop(grace=None)
