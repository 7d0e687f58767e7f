"""ModelStreamInfer through the gateway: one upstream stream per model a client's stream names.

A client may send requests for several models on one stream, and a model's replicas may be on
different agents, so the client's stream cannot simply be spliced onto one agent's. Each model
(and version, when one is asked for) gets its own upstream stream, opened on the first request
that names it, on a replica the balancer chooses; the replica counts as busy until that
upstream ends. Requests are forwarded as the bytes received; answers are relayed as they
arrive, so one model's answers keep their order while different models' interleave.

Failures answer in the stream, as an agent's own do: a request that cannot be routed (unknown
model, no ready replica, malformed bytes) gets a `ModelStreamInferResponse.error_message`, and
so does an upstream stream that ends with an error status; the next request for that model
opens a new one. Nothing on a stream is retried: a request written to an agent may have
reached the model. The call itself ends OK once the client has half-closed and every upstream
has finished; the client's deadline and cancellation end every upstream with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from gateway import wire
from gateway.balancer import Balancer
from gateway.front import parse_version
from gateway.grpc_channels import Channels
from gateway.grpc_forward import Metadata, unavailable_kind
from gateway.metrics import UNKNOWN_MODEL, GatewayMetrics
from gateway.proxy import replica
from gateway.routes import Endpoint
from gateway.targets import Protocol, Targets
from loadmaster import logs
from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.oip import errors

log = logs.get_logger("gateway.grpc")

OUTBOX_SIZE = 64  # answers waiting for a slow client; beyond it upstream reading pauses
GRPC = Protocol.GRPC.value
Key = tuple[str, int | None]


def error_message(text: str) -> bytes:
    return pb.ModelStreamInferResponse(error_message=text).SerializeToString()


def model_ref(request: bytes) -> wire.ModelRef:
    """The model a request names; a request that names none is the client's mistake."""
    ref = wire.read_model_ref(request)
    if not ref.name:
        raise errors.BadRequest("the request names no model (model_name, field 1, is empty)")
    return ref


def upstream_kind(code: grpc.StatusCode, details: str) -> str:
    if code is grpc.StatusCode.UNAVAILABLE:
        return unavailable_kind(details)
    return "timeout" if code is grpc.StatusCode.DEADLINE_EXCEEDED else "broken"


@dataclass
class Upstream:
    model: str
    endpoint: Endpoint
    call: grpc.aio.StreamStreamCall[bytes, bytes]
    reader: asyncio.Task[None] | None = field(default=None)


class StreamRelay:
    """One client call: routes its requests, relays its answers, and cleans up after it."""

    def __init__(
        self,
        targets: Targets,
        balancer: Balancer,
        channels: Channels,
        metrics: GatewayMetrics,
        metadata: Metadata,
        timeout_s: float | None,
    ) -> None:
        self.targets = targets
        self.balancer = balancer
        self.channels = channels
        self.metrics = metrics
        self.metadata = metadata
        self.timeout_s = timeout_s
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue(OUTBOX_SIZE)
        self._open: dict[Key, Upstream] = {}
        self._readers: list[asyncio.Task[None]] = []

    async def run(self, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        pump = asyncio.create_task(self._pump(requests), name="gateway-stream-pump")
        try:
            while (answer := await self._outbox.get()) is not None:
                yield answer
        finally:
            pump.cancel()
            for upstream in self._open.values():
                upstream.call.cancel()
            for task in (pump, *self._readers):
                task.cancel()
            await asyncio.gather(pump, *self._readers, return_exceptions=True)

    async def _pump(self, requests: AsyncIterator[bytes]) -> None:
        """Route every request; after the client's half-close, wait for every upstream."""
        try:
            async for request in requests:
                await self._route(request)
            for upstream in list(self._open.values()):
                with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                    await upstream.call.done_writing()
            await asyncio.gather(*self._readers, return_exceptions=True)
        except Exception:
            log.exception("stream relay failed")
        await self._outbox.put(None)

    async def _route(self, request: bytes) -> None:
        label = UNKNOWN_MODEL
        try:
            ref = model_ref(request)
            label = self.targets.label(ref.name)
            target = self.targets.require(ref.name, parse_version(ref.version), Protocol.GRPC)
            if target.renamed:
                request = wire.rename(request, target.model)
            await self._send((target.model, target.version), request)
        except errors.OIPError as exc:
            self.metrics.answered(label, GRPC, exc.grpc_code, None)
            await self._outbox.put(error_message(exc.message))
            return
        self.metrics.answered(label, GRPC, "OK", None)

    async def _send(self, key: Key, request: bytes) -> None:
        upstream = self._open.get(key) or self._start(*key)
        try:
            await upstream.call.write(request)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as exc:
            if self._open.get(key) is upstream:
                del self._open[key]
            raise errors.ModelNotReady(
                f"model '{upstream.model}': request not sent, the stream to "
                f"{replica(upstream.endpoint)} has ended ({type(exc).__name__})"
            ) from None

    def _start(self, model: str, version: int | None) -> Upstream:
        endpoint = self.balancer.choose(self.targets.endpoints(model, version, Protocol.GRPC))
        if endpoint is None:
            raise errors.ModelNotReady(f"model '{model}' has no ready replica left")
        method = self.channels.stream(endpoint.grpc, "ModelStreamInfer")
        upstream = Upstream(model, endpoint, method(metadata=self.metadata, timeout=self.timeout_s))
        self.balancer.acquire(endpoint)
        upstream.reader = asyncio.create_task(self._read((model, version), upstream))
        self._readers.append(upstream.reader)
        self._open[(model, version)] = upstream
        return upstream

    async def _read(self, key: Key, upstream: Upstream) -> None:
        """Relay one upstream's answers; its failure becomes an error message on the stream."""
        try:
            while (answer := await upstream.call.read()) is not grpc.aio.EOF:
                assert isinstance(answer, bytes)
                await self._outbox.put(answer)
        except grpc.aio.AioRpcError as exc:
            await self._failed(upstream, exc.code(), exc.details() or "")
        finally:
            self.balancer.release(upstream.endpoint)
            if self._open.get(key) is upstream:
                del self._open[key]

    async def _failed(self, upstream: Upstream, code: grpc.StatusCode, details: str) -> None:
        problem = f"{replica(upstream.endpoint)} ended the stream: {code.name}: {details}"
        kind = upstream_kind(code, details)
        self.metrics.upstream_errors.labels(upstream.model, GRPC, kind).inc()
        log.warning(
            "stream upstream failed",
            model=upstream.model,
            server=upstream.endpoint.server,
            kind=kind,
            problem=problem,
            request_id=dict(self.metadata).get("x-request-id"),
        )
        await self._outbox.put(error_message(f"model '{upstream.model}': {problem}"))
