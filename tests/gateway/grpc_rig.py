"""The gateway's gRPC front door on loopback, fake gRPC agents behind it, a table set directly.

A fake agent decodes what it receives with the generated classes (the test process imports no
other `inference` package) and answers naming itself in a `server` parameter, so a test can
tell which replica served, and what bytes and metadata arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from prometheus_client import CollectorRegistry

from gateway.balancer import Balancer
from gateway.config import GatewayConfig
from gateway.experiments import Experiment
from gateway.grpc_channels import SERVICE, Channels
from gateway.grpc_front import GrpcFront, build_server
from gateway.metrics import GatewayMetrics
from gateway.proxy import Proxy
from gateway.routes import Endpoint, Route, RouteTable
from gateway.targets import Targets
from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.generated.inference import grpc_service_pb2_grpc as pb_grpc
from tests.gateway.fakes import FirstTwo

LIMIT = 4096
Context = grpc.aio.ServicerContext[bytes, bytes]


@dataclass
class FakeGrpcAgent:
    """`status` (with `details`) aborts every unary call; `delay_s` holds answers back;
    a stream answers each request with two parts, after `gate` when there is one, and
    `fail_streams` streams abort UNAVAILABLE after their first request."""

    name: str
    status: grpc.StatusCode | None = None
    details: str = ""
    delay_s: float = 0.0
    gate: asyncio.Event | None = None
    fail_streams: int = 0
    seen: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    streams: int = 0
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    address: str = ""
    server: grpc.aio.Server | None = None

    async def start(self) -> None:
        unary = grpc.unary_unary_rpc_method_handler
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            "ModelInfer": unary(self.model_infer),
            "ModelMetadata": unary(self.model_metadata),
            "ModelStreamInfer": grpc.stream_stream_rpc_method_handler(self.model_stream_infer),
        }
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, handlers),)
        )
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        await self.server.start()

    def answer(self, request: pb.ModelInferRequest, part: int = 0) -> pb.ModelInferResponse:
        response = pb.ModelInferResponse(
            model_name=request.model_name, model_version=request.model_version, id=request.id
        )
        response.parameters["server"].string_param = self.name
        response.parameters["part"].int64_param = part
        return response

    async def _record(self, method: str, request: bytes, context: Context) -> None:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        self.seen.append((method, request, metadata))
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        if self.status is not None:
            await context.abort(self.status, self.details or f"{self.name} says {self.status.name}")

    async def model_infer(self, request: bytes, context: Context) -> bytes:
        await self._record("ModelInfer", request, context)
        return self.answer(pb.ModelInferRequest.FromString(request)).SerializeToString()

    async def model_metadata(self, request: bytes, context: Context) -> bytes:
        await self._record("ModelMetadata", request, context)
        asked = pb.ModelMetadataRequest.FromString(request)
        return pb.ModelMetadataResponse(name=asked.name, platform=self.name).SerializeToString()

    async def model_stream_infer(
        self, requests: AsyncIterator[bytes], context: Context
    ) -> AsyncIterator[bytes]:
        self.streams += 1
        failing = self.streams <= self.fail_streams
        try:
            async for raw in requests:
                metadata = {
                    k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)
                }
                self.seen.append(("ModelStreamInfer", raw, metadata))
                request = pb.ModelInferRequest.FromString(raw)
                for part in range(2):
                    if part and self.gate is not None:
                        await self.gate.wait()
                    reply = pb.ModelStreamInferResponse(infer_response=self.answer(request, part))
                    yield reply.SerializeToString()
                if failing:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.name} went away")
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(grace=None)


@dataclass
class GrpcRig:
    targets: Targets
    balancer: Balancer
    registry: CollectorRegistry
    stub: pb_grpc.GRPCInferenceServiceAsyncStub
    channel: grpc.aio.Channel
    agents: dict[str, FakeGrpcAgent] = field(default_factory=dict)
    generation: int = 0

    async def agent(self, name: str) -> FakeGrpcAgent:
        agent = FakeGrpcAgent(name)
        await agent.start()
        self.agents[name] = agent
        return agent

    def routes(self, *routes: Route, experiments: tuple[Experiment, ...] = ()) -> None:
        self.generation += 1
        self.targets.set_table(
            RouteTable(
                self.generation,
                {r.model: r for r in routes},
                {e.name: e for e in experiments},
                {e.default_model: e for e in experiments if e.default_model},
            )
        )

    def raw(self, method: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
        """A call of `method` that sends the bytes it is given, as they are."""
        return self.channel.unary_unary(f"/{SERVICE}/{method}")

    def sample(self, name: str, **labels: str) -> float:
        """A metric's value; `protocol` is "grpc" unless given."""
        return self.registry.get_sample_value(name, {"protocol": "grpc", **labels}) or 0.0


def grpc_endpoint(agent: FakeGrpcAgent | str, version: int = 1) -> Endpoint:
    """A replica reached over gRPC at the fake's address, or at `name@HOST:PORT`."""
    if isinstance(agent, FakeGrpcAgent):
        return Endpoint(agent.name, version, "", agent.address)
    name, _, address = agent.partition("@")
    return Endpoint(name, version, "", address)


async def make_grpc_rig(upstream_timeout_s: float = 5.0) -> AsyncIterator[GrpcRig]:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    balancer = Balancer(FirstTwo())
    config = GatewayConfig(grpc_port=0, max_body_bytes=LIMIT, upstream_timeout_s=upstream_timeout_s)
    targets = Targets(config.scheduler)
    channels = Channels(close_grace_s=0.1)
    front = GrpcFront(config, targets, Proxy(balancer, metrics), channels, metrics)
    server, port = build_server(front, "127.0.0.1", 0, LIMIT)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub: pb_grpc.GRPCInferenceServiceAsyncStub = pb_grpc.GRPCInferenceServiceStub(channel)
    rig = GrpcRig(targets, balancer, registry, stub, channel)
    try:
        yield rig
    finally:
        await channel.close()
        await server.stop(grace=None)
        await channels.close()
        for agent in rig.agents.values():
            await agent.stop()
