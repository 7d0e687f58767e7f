"""The OIP REST front door: a thin aiohttp adapter over the route table and the proxy.

Bodies are read raw and bounded (413), never decoded: inference requests and responses pass
through byte for byte with `Inference-Header-Content-Length`, so tritonclient's binary tensor
extension works through the gateway. Every response carries `x-request-id` (the client's or a
new one) and every error is `{"error": "..."}` with its status, as an agent's would be.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

import loadmaster
from gateway import rest_forward, rest_stream
from gateway.config import GatewayConfig
from gateway.experiments import ROUTE_HEADER
from gateway.front import (
    EXTENSIONS,
    REQUEST_ID,
    SERVER_NAME,
    TRACE_HEADERS,
    parse_version,
    request_id,
)
from gateway.metrics import GatewayMetrics
from gateway.mirror import Mirrorer
from gateway.proxy import BadGateway, Candidates, Deadline, Job, Proxy, replica
from gateway.rest_body import read_bounded_body
from gateway.rest_forward import HttpCall
from gateway.routes import Endpoint
from gateway.targets import Protocol, Target, Targets
from gateway.upstream import Upstream, UpstreamBroken, read_all
from loadmaster import logs
from loadmaster.oip import errors, rest_codec

log = logs.get_logger("gateway.rest")

HEADER_LENGTH = "Inference-Header-Content-Length"
TIMEOUT_MS = "x-request-timeout-ms"
FORWARDED = ("Content-Type", HEADER_LENGTH, "Accept", *TRACE_HEADERS)
RETURNED = ("Content-Type", HEADER_LENGTH)
JSON = "application/json"
REST = Protocol.REST.value
REQUEST_ID_KEY = web.RequestKey("request_id", str)
TARGET_KEY = web.RequestKey("target", Target)  # set once the request has been routed
_MILLISECONDS = re.compile(r"[0-9]{1,12}")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type=JSON)


def error_response(status: int, message: str) -> web.Response:
    return web.Response(body=rest_codec.error_body(message), status=status, content_type=JSON)


class GatewayRest:
    """The REST routes; routing decisions are `Targets`', retries and deadlines the `Proxy`'s."""

    def __init__(
        self,
        config: GatewayConfig,
        targets: Targets,
        proxy: Proxy,
        upstream: Upstream,
        metrics: GatewayMetrics,
        render_metrics: Callable[[], bytes],
        mirrorer: Mirrorer | None = None,
        mount_pipelines: Callable[[web.UrlDispatcher], None] | None = None,
    ) -> None:
        self.config = config
        self._mount_pipelines = mount_pipelines
        self.targets = targets
        self.proxy = proxy
        self.upstream = upstream
        self.metrics = metrics
        self.mirrorer = mirrorer or Mirrorer(metrics)
        self._render_metrics = render_metrics

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._envelope], client_max_size=self.config.max_body_bytes
        )
        r = app.router
        r.add_get("/v2/health/live", self.live)
        r.add_get("/v2/health/ready", self.ready)
        r.add_get("/v2", self.server_metadata)
        if self._mount_pipelines is not None:  # first: `x.pipeline` would match {model}
            self._mount_pipelines(r)
        for prefix in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
            r.add_get(prefix, self.model_metadata)
            r.add_get(f"{prefix}/ready", self.model_ready)
            r.add_post(f"{prefix}/infer", self.infer)
            r.add_post(f"{prefix}/infer_stream", self.infer_stream)
        r.add_get("/metrics", self.metrics_text)
        return app

    @web.middleware
    async def _envelope(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The request id on every response, and every failure in the one error shape."""
        rid = request_id(request.headers.get(REQUEST_ID))
        request[REQUEST_ID_KEY] = rid
        response: web.StreamResponse
        try:
            response = await handler(request)
        except errors.OIPError as exc:
            response = error_response(exc.http_status, exc.message)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = error_response(exc.status, f"{exc.reason}: {request.method} {request.path}")
        except Exception as exc:
            log.exception("unhandled error", path=request.path, request_id=rid)
            response = error_response(500, f"internal error: {type(exc).__name__}: {exc}")
        if not response.prepared:  # a relayed stream sent its headers, the id among them
            response.headers.setdefault(REQUEST_ID, rid)  # a pipeline's may be its own
        return response

    async def live(self, request: web.Request) -> web.Response:
        return _json({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        received = self.targets.received
        return _json({"ready": received}, status=200 if received else 503)

    async def server_metadata(self, request: web.Request) -> web.Response:
        doc = {"name": SERVER_NAME, "version": loadmaster.__version__}
        return _json({**doc, "extensions": list(EXTENSIONS)})

    async def model_ready(self, request: web.Request) -> web.Response:
        """Answered from the route table: a replica in it is one the gateway would send to."""
        name = request.match_info["model"]
        version = parse_version(request.match_info.get("version"))
        reason = self.targets.not_ready_reason(name, version, Protocol.REST)
        if reason is not None:
            return _json({"name": name, "ready": False, "error": reason}, 503)
        return _json({"name": name, "ready": True})

    async def model_metadata(self, request: web.Request) -> web.Response:
        return await self._unary(request, "")

    async def infer(self, request: web.Request) -> web.StreamResponse:
        """Forwarded and counted; the hot path, so the counting is not a layer of its own."""
        started = time.perf_counter()
        code = "500"
        try:
            response = await self._unary(request, "/infer")
            code = str(response.status)
            return response
        except errors.OIPError as exc:
            code = str(exc.http_status)
            raise
        except asyncio.CancelledError:
            code = "499"  # the client went away; nginx's name for it
            raise
        finally:
            self._count(request, code, time.perf_counter() - started)

    async def infer_stream(self, request: web.Request) -> web.StreamResponse:
        """Relayed and counted, not timed: a stream's length is the client's."""
        code = "500"
        try:
            response = await self._stream(request)
            code = str(response.status)
            return response
        except errors.OIPError as exc:
            code = str(exc.http_status)
            raise
        except asyncio.CancelledError:
            code = "499"
            raise
        finally:
            self._count(request, code, None)

    async def metrics_text(self, request: web.Request) -> web.Response:
        body = self._render_metrics()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # ---- helpers -------------------------------------------------------------------------------

    def _count(self, request: web.Request, code: str, seconds: float | None) -> None:
        """Count one inference under its model (once routed, the name is known to be one),
        and under its experiment's candidate when an experiment chose it."""
        name = request.match_info["model"]
        target = request.get(TARGET_KEY)
        label = name if target is not None else self.targets.label(name)
        self.metrics.answered(label, REST, code, seconds)
        if target is not None and target.hit is not None:
            hit = target.hit
            self.metrics.experiment_answered(hit.experiment, hit.candidate, REST, code, seconds)

    async def _prepare(
        self, request: web.Request, tail: str
    ) -> tuple[Job, Candidates, HttpCall, Target]:
        """What to send, to whom, within which deadline; the 4xx/503 checks happen here.

        A version is named on the way to the agent only when the client named one: during a
        rollout an agent that has loaded the new version retires the old one by itself, before
        the scheduler's table says so, and an unversioned request is then served by the
        agent's newest Available version instead of being refused by the retiring one.
        """
        deadline = self._deadline(request)
        body = await self._read_body(request)
        name = request.match_info["model"]
        version = parse_version(request.match_info.get("version"))
        inference = request.method == "POST"
        sticky = request.headers.get(ROUTE_HEADER)
        target = self.targets.require(name, version, Protocol.REST, sticky, counted=inference)
        request[TARGET_KEY] = target
        query = request.rel_url.raw_query_string  # as the client sent it, still encoded
        if query:
            tail = f"{tail}?{query}"
        received = request.headers
        headers = {h: received[h] for h in FORWARDED if h in received}
        headers[REQUEST_ID] = request[REQUEST_ID_KEY]
        job, candidates, call = self._addressed(
            target.model, target.version, request, deadline, tail, headers, body
        )
        if target.mirror is not None and target.hit is not None:
            self._mirror(target.hit.experiment, target.mirror, request, tail, call)
        return job, candidates, call, target

    def _addressed(
        self,
        model: str,
        version: int | None,
        request: web.Request,
        deadline: Deadline,
        tail: str,
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[Job, Candidates, HttpCall]:
        path = (
            f"/v2/models/{model}" if version is None else f"/v2/models/{model}/versions/{version}"
        )
        job = Job(model, Protocol.REST.value, request[REQUEST_ID_KEY], deadline)

        def candidates() -> tuple[Endpoint, ...]:
            return self.targets.endpoints(model, version, Protocol.REST)

        return job, candidates, HttpCall(request.method, f"{path}{tail}", headers, body)

    def _mirror(
        self, experiment: str, model: str, request: web.Request, tail: str, call: HttpCall
    ) -> None:
        """Send a copy of `call` to the mirror `model`; its answer goes nowhere."""
        deadline = Deadline(self.config.upstream_timeout_s)
        headers = dict(call.headers)
        job, candidates, copy = self._addressed(
            model, None, request, deadline, tail, headers, call.body
        )
        attempt = rest_forward.unary(self.upstream, copy)
        self.mirrorer.fire(experiment, model, lambda: self.proxy.send(job, candidates, attempt))

    def _routed(self, request: web.Request, headers: dict[str, str]) -> dict[str, str]:
        """`headers` plus the route header when an experiment chose the model."""
        target = request.get(TARGET_KEY)
        if target is None or target.hit is None:
            return headers
        return {**headers, ROUTE_HEADER: target.hit.candidate}

    async def _unary(self, request: web.Request, tail: str) -> web.Response:
        job, candidates, call, target = await self._prepare(request, tail)
        attempt = rest_forward.unary(self.upstream, call)
        answer = await self.proxy.send(job, candidates, attempt, target.endpoints)
        given = answer.headers
        returned = {h: given[h] for h in RETURNED if h in given}
        return web.Response(
            status=answer.status, body=answer.body, headers=self._routed(request, returned)
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Relay the agent's events; a retry is possible only before the stream has begun."""
        expires = asyncio.get_running_loop().time() + self._deadline(request).seconds
        job, candidates, call, _ = await self._prepare(request, "/infer_stream")
        opening = rest_forward.opening(self.upstream, call)
        async with self.proxy.opened(job, candidates, opening) as (endpoint, answer):
            try:
                returned = {h: answer.headers[h] for h in RETURNED if h in answer.headers}
                returned = self._routed(request, returned)
                if answer.status != 200 or answer.content_type != rest_stream.EVENT_STREAM:
                    body = await self._rest_of(job, endpoint, answer, expires)
                    return web.Response(status=answer.status, body=body, headers=returned)
                stream, failure = await rest_stream.relay(
                    request,
                    answer,
                    {**returned, REQUEST_ID: job.request_id},
                    expires,
                    job.deadline.exceeded(job.model),
                    f"model '{job.model}': {replica(endpoint)} broke off its stream",
                )
                if failure is not None:
                    self.proxy.failed(job, endpoint, failure.kind, failure.message)
                return stream
            finally:
                answer.release()  # closes the connection when the body was not read to its end

    async def _rest_of(
        self, job: Job, endpoint: Endpoint, answer: aiohttp.ClientResponse, expires: float
    ) -> bytes:
        """A non-streamed answer to a stream request (an error before the first part)."""
        try:
            async with asyncio.timeout_at(expires):
                return await read_all(endpoint, answer)
        except TimeoutError:
            raise errors.DeadlineExceeded(job.deadline.exceeded(job.model)) from None
        except UpstreamBroken as exc:
            raise BadGateway(f"model '{job.model}': {exc.message}") from None

    def _deadline(self, request: web.Request) -> Deadline:
        raw = request.headers.get(TIMEOUT_MS)
        if raw is None:
            return Deadline(self.config.upstream_timeout_s)
        text = raw.strip()
        if not _MILLISECONDS.fullmatch(text) or int(text) == 0:
            raise errors.BadRequest(
                f"{TIMEOUT_MS} must be a positive whole number of milliseconds, got {raw!r}"
            )
        return Deadline(int(text) / 1000, int(text))

    async def _read_body(self, request: web.Request) -> bytes:
        return await read_bounded_body(request, self.config.max_body_bytes)
