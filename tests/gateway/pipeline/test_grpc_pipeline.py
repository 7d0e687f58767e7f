"""Pipelines through the gateway's gRPC door: the generated stub as client, a MemoryBus behind.

The answer must be what tritonclient can read: `raw_output_contents`, the model name the
client asked for (`<name>.pipeline`), and failures as gRPC statuses with the step and model in
trailing metadata.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from gateway.balancer import Balancer
from gateway.config import GatewayConfig
from gateway.grpc_channels import Channels
from gateway.grpc_front import GrpcFront, build_server
from gateway.metrics import GatewayMetrics
from gateway.pipeline.grpc_pipeline import GrpcPipelines, pipeline_name
from gateway.proxy import Proxy
from gateway.targets import Targets
from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.generated.inference import grpc_service_pb2_grpc as pb_grpc
from loadmaster.kafka.records import ErrorRecord, envelope_of
from tests.gateway.pipeline.front_rig import FrontRig, entry, make_front_rig

LIMIT = 4096
Code = grpc.StatusCode
RAW = struct.pack("<2f", 1.5, -2.0)


@dataclass
class GrpcRig:
    pipes: FrontRig
    stub: pb_grpc.GRPCInferenceServiceAsyncStub

    def requests(self, code: str, pipeline: str = "chain") -> float:
        labels = {"pipeline": pipeline, "protocol": "grpc", "code": code}
        return self.pipes.sample("loadmaster_gateway_pipeline_requests_total", **labels)


@contextlib.asynccontextmanager
async def grpc_rig(**front: object) -> AsyncIterator[GrpcRig]:
    async with make_front_rig(**front) as pipes:  # type: ignore[arg-type]
        metrics = GatewayMetrics(pipes.registry)
        config = GatewayConfig(grpc_port=0, max_body_bytes=LIMIT)
        channels = Channels(close_grace_s=0.1)
        door = GrpcFront(
            config,
            Targets(config.scheduler),
            Proxy(Balancer(), metrics),
            channels,
            metrics,
            pipelines=GrpcPipelines(pipes.front),
        )
        server, port = build_server(door, "127.0.0.1", 0, LIMIT)
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield GrpcRig(pipes, pb_grpc.GRPCInferenceServiceStub(channel))
        finally:
            await channel.close()
            await server.stop(grace=None)
            await channels.close()


@pytest.fixture
async def rig() -> AsyncIterator[GrpcRig]:
    async with grpc_rig() as made:
        await made.pipes.servable()
        yield made


def request(model: str = "chain.pipeline") -> pb.ModelInferRequest:
    msg = pb.ModelInferRequest(model_name=model, id="q-9")
    msg.inputs.add(name="x", datatype="FP32", shape=[2])
    msg.raw_input_contents.append(RAW)
    return msg


async def failure(rig: GrpcRig, msg: pb.ModelInferRequest) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rig.stub.ModelInfer(msg, timeout=5)
    return info.value


def trailing(error: grpc.aio.AioRpcError) -> dict[str, str]:
    return {k: v for k, v in error.trailing_metadata() or () if isinstance(v, str)}


async def test_model_infer_answers_with_raw_outputs_named_as_asked(rig: GrpcRig) -> None:
    call = rig.stub.ModelInfer(request(), metadata=(("x-request-id", "g-1"),), timeout=5)
    answer = await call
    assert answer.model_name == "chain.pipeline" and answer.id == "q-9"
    assert [o.name for o in answer.outputs] == ["x"]
    assert list(answer.outputs[0].shape) == [2] and answer.outputs[0].datatype == "FP32"
    assert list(answer.raw_output_contents) == [RAW]
    [record] = rig.pipes.inputs()
    env = envelope_of(record)
    assert env.client_request == "g-1" and env.header_length is not None
    trailer = {k: v for k, v in await call.trailing_metadata() or ()}
    assert trailer["x-pipeline-request-id"] == env.request
    initial = {k: v for k, v in await call.initial_metadata() or ()}
    assert initial["x-request-id"] == "g-1"
    assert rig.requests("OK") == 1


async def test_a_failing_step_is_its_status_with_step_and_model_in_the_trailer(
    rig: GrpcRig,
) -> None:
    rig.pipes.fake.error = ErrorRecord("chain", "second", "m2", 500, "CUDA out of memory")
    error = await failure(rig, request())
    assert error.code() == Code.INTERNAL
    assert error.details() == "pipeline 'chain' step 'second' (model 'm2'): CUDA out of memory"
    meta = trailing(error)
    assert (meta["lm-pipeline-step"], meta["lm-pipeline-model"]) == ("second", "m2")
    assert meta["x-pipeline-request-id"] == envelope_of(rig.pipes.inputs()[0]).request
    assert rig.requests("INTERNAL") == 1


async def test_refusals_map_to_grpc_codes() -> None:
    slow = entry("slow", "PipelineWaiting", "waiting for models: m2 (not loaded)")
    async with grpc_rig(pipelines=(entry(), slow), default_timeout_s=0.05) as rig:
        await rig.pipes.servable()
        error = await failure(rig, request("nope.pipeline"))
        assert (error.code(), error.details()) == (Code.NOT_FOUND, "pipeline 'nope' not found")
        error = await failure(rig, request("slow.pipeline"))
        assert error.code() == Code.UNAVAILABLE and "PipelineWaiting" in (error.details() or "")
        rig.pipes.fake.silent = True
        error = await failure(rig, request())
        assert error.code() == Code.DEADLINE_EXCEEDED
        assert "pipeline 'chain': no answer within 50 ms" in (error.details() or "")


async def test_a_malformed_request_is_invalid_and_never_produced(rig: GrpcRig) -> None:
    msg = request()
    msg.raw_input_contents.append(RAW)  # two raw contents for one input
    error = await failure(rig, msg)
    assert error.code() == Code.INVALID_ARGUMENT and "pair up" in (error.details() or "")
    assert rig.pipes.inputs() == []


async def test_without_kafka_pipeline_calls_are_unavailable() -> None:
    async with grpc_rig(kafka=False) as rig:
        error = await failure(rig, request())
        assert error.code() == Code.UNAVAILABLE
        assert "--kafka-bootstrap" in (error.details() or "")


async def test_model_ready_and_metadata_answer_for_a_pipeline(rig: GrpcRig) -> None:
    ready = await rig.stub.ModelReady(pb.ModelReadyRequest(name="chain.pipeline"))
    assert ready.ready
    meta = await rig.stub.ModelMetadata(pb.ModelMetadataRequest(name="chain.pipeline"))
    assert (meta.name, list(meta.versions)) == ("chain.pipeline", ["3"])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rig.stub.ModelReady(pb.ModelReadyRequest(name="nope.pipeline"))
    assert info.value.code() == Code.NOT_FOUND


def test_only_names_ending_in_pipeline_are_pipelines() -> None:
    assert pipeline_name(request("chain.pipeline").SerializeToString()) == "chain"
    assert pipeline_name(request("chain").SerializeToString()) is None
    assert pipeline_name(request(".pipeline").SerializeToString()) is None
    assert pipeline_name(b"\xff\xff") is None  # malformed: the model path reports it
