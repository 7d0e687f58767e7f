"""The OIP gRPC front door: `inference.GRPCInferenceService` on raw bytes.

Generic handlers with no (de)serialiser: an inference request reaches the agent as the bytes
the client sent and the answer comes back the same way, so tensors are never decoded or copied
into messages. Routing reads only the model's name and version (`gateway.wire`). The rules are
REST's (`Targets`, `Proxy`): NOT_FOUND for an unknown model, UNAVAILABLE with the model's
state and reason when nothing is routable, one retry on another replica when an attempt failed
before reaching a model, and the agent's own status passed back as it came otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc

import loadmaster
from gateway import grpc_forward, wire
from gateway.config import GatewayConfig
from gateway.experiments import ROUTE_HEADER, Hit
from gateway.front import (
    EXTENSIONS,
    REQUEST_ID,
    SERVER_NAME,
    TRACE_HEADERS,
    parse_version,
    request_id,
)
from gateway.grpc_channels import SERVICE, Channels
from gateway.grpc_forward import AgentStatus, GrpcCall, Metadata
from gateway.grpc_stream import StreamRelay, model_ref
from gateway.metrics import UNKNOWN_MODEL, GatewayMetrics
from gateway.mirror import Mirrorer
from gateway.pipeline.grpc_pipeline import GrpcPipelines, pipeline_name
from gateway.proxy import Deadline, Job, Proxy
from gateway.routes import Endpoint
from gateway.targets import Protocol, Targets
from loadmaster import logs
from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.oip import errors

log = logs.get_logger("gateway.grpc")

Context = grpc.aio.ServicerContext[bytes, bytes]
GRPC = Protocol.GRPC.value
# The gateway gives up this much before the client's own deadline, so that its answer, which
# names the model, reaches the client before the client's timer fires with a bare one.
MARGIN_SHARE, MAX_MARGIN_S = 0.1, 0.05
REPOSITORY_HINT = (
    "the gateway does not load or unload models: use `loadmaster model load` / "
    "`loadmaster model unload`, or the scheduler's admin API (LoadModel / UnloadModel)"
)


class GrpcFront:
    def __init__(
        self,
        config: GatewayConfig,
        targets: Targets,
        proxy: Proxy,
        channels: Channels,
        metrics: GatewayMetrics,
        mirrorer: Mirrorer | None = None,
        pipelines: GrpcPipelines | None = None,
    ) -> None:
        self.config = config
        self.pipelines = pipelines  # `<name>.pipeline` requests, when pipelines are hosted
        self.targets = targets
        self.proxy = proxy
        self.channels = channels
        self.metrics = metrics
        self.mirrorer = mirrorer or Mirrorer(metrics)

    def handler(self) -> grpc.GenericRpcHandler:
        unary = grpc.unary_unary_rpc_method_handler
        methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            "ServerLive": unary(self.server_live),
            "ServerReady": unary(self.server_ready),
            "ServerMetadata": unary(self.server_metadata),
            "ModelReady": unary(self.model_ready),
            "ModelMetadata": unary(self.model_metadata),
            "ModelInfer": unary(self.model_infer),
            "ModelStreamInfer": grpc.stream_stream_rpc_method_handler(self.model_stream_infer),
            "RepositoryIndex": unary(self.repository),
            "RepositoryModelLoad": unary(self.repository),
            "RepositoryModelUnload": unary(self.repository),
        }
        return grpc.method_handlers_generic_handler(SERVICE, methods)

    async def server_live(self, request: bytes, context: Context) -> bytes:
        return pb.ServerLiveResponse(live=True).SerializeToString()

    async def server_ready(self, request: bytes, context: Context) -> bytes:
        return pb.ServerReadyResponse(ready=self.targets.received).SerializeToString()

    async def server_metadata(self, request: bytes, context: Context) -> bytes:
        answer = pb.ServerMetadataResponse(
            name=SERVER_NAME, version=loadmaster.__version__, extensions=list(EXTENSIONS)
        )
        return answer.SerializeToString()

    async def model_ready(self, request: bytes, context: Context) -> bytes:
        """Answered from the route table, as REST's is; NOT_FOUND for an unknown model."""
        if self.pipelines is not None and (pipeline := pipeline_name(request)):
            return await self.pipelines.model_ready(pipeline, context)

        async def work(ref: wire.ModelRef, metadata: Metadata) -> bytes:
            version = parse_version(ref.version)
            reason = self.targets.not_ready_reason(ref.name, version, Protocol.GRPC)
            return pb.ModelReadyResponse(ready=reason is None).SerializeToString()

        return await self._answer(request, context, work, counted=False)

    async def model_metadata(self, request: bytes, context: Context) -> bytes:
        if self.pipelines is not None and (pipeline := pipeline_name(request)):
            return await self.pipelines.model_metadata(pipeline, context)
        hits: list[Hit] = []
        work = self._forwarder("ModelMetadata", request, context, hits)
        return await self._answer(request, context, work, counted=False)

    async def model_infer(self, request: bytes, context: Context) -> bytes:
        if self.pipelines is not None and (pipeline := pipeline_name(request)):
            return await self.pipelines.model_infer(pipeline, request, context)
        hits: list[Hit] = []
        work = self._forwarder("ModelInfer", request, context, hits)
        return await self._answer(request, context, work, counted=True, hits=hits)

    async def model_stream_infer(
        self, requests: AsyncIterator[bytes], context: Context
    ) -> AsyncIterator[bytes]:
        metadata = await self._begin(context)
        relay = StreamRelay(
            self.targets,
            self.proxy.balancer,
            self.channels,
            self.metrics,
            metadata,
            context.time_remaining(),
        )
        async for answer in relay.run(requests):
            yield answer

    async def repository(self, request: bytes, context: Context) -> bytes:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, REPOSITORY_HINT)

    # ---- helpers -------------------------------------------------------------------------------

    def _forwarder(
        self, method: str, request: bytes, context: Context, hits: list[Hit]
    ) -> Callable[[wire.ModelRef, Metadata], Awaitable[bytes]]:
        """Forwards `request` to the model its name resolves to; an experiment's choice is
        appended to `hits` and named in the trailing metadata (`x-loadmaster-route`)."""
        inference = method == "ModelInfer"

        async def work(ref: wire.ModelRef, metadata: Metadata) -> bytes:
            sticky = _text(dict(context.invocation_metadata() or ()).get(ROUTE_HEADER))
            version = parse_version(ref.version)
            target = self.targets.require(ref.name, version, Protocol.GRPC, sticky, inference)
            if target.hit is not None:
                hits.append(target.hit)
                context.set_trailing_metadata(((ROUTE_HEADER, target.hit.candidate),))
            if target.mirror is not None and target.hit is not None:
                copy = wire.rename(request, target.mirror)
                mirror_job = Job(
                    target.mirror, GRPC, dict(metadata)[REQUEST_ID], self._deadline(None)
                )
                self._send_copy(target.hit.experiment, mirror_job, method, copy, metadata)
            body = wire.rename(request, target.model) if target.renamed else request
            job = Job(target.model, GRPC, dict(metadata)[REQUEST_ID], self._deadline(context))
            return await self._send(job, target.version, GrpcCall(method, body, metadata))

        return work

    async def _send(self, job: Job, version: int | None, call: GrpcCall) -> bytes:
        def candidates() -> tuple[Endpoint, ...]:
            return self.targets.endpoints(job.model, version, Protocol.GRPC)

        return await self.proxy.send(job, candidates, grpc_forward.unary(self.channels, call))

    def _send_copy(
        self, experiment: str, job: Job, method: str, body: bytes, metadata: Metadata
    ) -> None:
        """A copy for the experiment's mirror, in the background; its answer goes nowhere."""
        call = GrpcCall(method, body, metadata)
        self.mirrorer.fire(experiment, job.model, lambda: self._send(job, None, call))

    async def _answer(
        self,
        request: bytes,
        context: Context,
        work: Callable[[wire.ModelRef, Metadata], Awaitable[bytes]],
        counted: bool,
        hits: Sequence[Hit] = (),
    ) -> bytes:
        """`work`'s answer, or the status its failure maps to; counted in the metrics."""
        started = time.perf_counter()
        label, code, details = UNKNOWN_MODEL, "INTERNAL", ""
        try:
            metadata = await self._begin(context)
            ref = model_ref(request)
            label = self.targets.label(ref.name)
            answer = await work(ref, metadata)
            code = "OK"
            return answer
        except errors.OIPError as exc:
            code, details = exc.grpc_code, exc.message
        except AgentStatus as exc:
            code, details = exc.code.name, exc.details
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except Exception as exc:
            log.exception("unhandled gRPC error", model=label)
            details = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            if counted:
                seconds = time.perf_counter() - started
                self.metrics.answered(label, GRPC, code, seconds)
                for hit in hits:
                    self.metrics.experiment_answered(
                        hit.experiment, hit.candidate, GRPC, code, seconds
                    )
        await context.abort(getattr(grpc.StatusCode, code), details)

    async def _begin(self, context: Context) -> Metadata:
        """Metadata for the agent (the request id, created when missing, and trace context);
        the request id also goes back to the client in the initial metadata."""
        received = dict(context.invocation_metadata() or ())
        rid = request_id(_text(received.get(REQUEST_ID)))
        await context.send_initial_metadata(((REQUEST_ID, rid),))
        trace = [(k, v) for k in TRACE_HEADERS if (v := _text(received.get(k)))]
        return ((REQUEST_ID, rid), *trace)

    def _deadline(self, context: Context | None) -> Deadline:
        """The client's deadline, a little early; the configured timeout when it set none
        (and for mirror copies, which no client waits for)."""
        remaining = None if context is None else context.time_remaining()
        if remaining is None:
            return Deadline(self.config.upstream_timeout_s)
        margin = min(remaining * MARGIN_SHARE, MAX_MARGIN_S)
        return Deadline(max(remaining - margin, 0.001), max(round(remaining * 1000), 1))


def _text(value: str | bytes | None) -> str | None:
    return value if isinstance(value, str) else None


def build_server(
    front: GrpcFront, host: str, port: int, max_message: int
) -> tuple[grpc.aio.Server, int]:
    """The server with `front` on it and its bound port (useful when `port` is 0)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message),  # RESOURCE_EXHAUSTED beyond
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ]
    )
    server.add_generic_rpc_handlers((front.handler(),))
    bound = server.add_insecure_port(f"{host}:{port}")
    return server, bound
