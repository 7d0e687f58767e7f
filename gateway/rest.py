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
import uuid
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

import loadmaster
from gateway.config import GatewayConfig
from gateway.metrics import UNKNOWN_MODEL, GatewayMetrics
from gateway.proxy import Call, Deadline, Proxy
from gateway.routes import Endpoint, RouteTable
from loadmaster import logs
from loadmaster.oip import errors, rest_codec

log = logs.get_logger("gateway.rest")

HEADER_LENGTH = "Inference-Header-Content-Length"
REQUEST_ID = "x-request-id"
TIMEOUT_MS = "x-request-timeout-ms"
FORWARDED = ("Content-Type", HEADER_LENGTH, "Accept", "traceparent", "tracestate")
RETURNED = ("Content-Type", HEADER_LENGTH)
EXTENSIONS = ("binary_tensor_data", "parameters")
JSON = "application/json"
REQUEST_ID_KEY = web.RequestKey("request_id", str)
_MILLISECONDS = re.compile(r"[0-9]{1,12}")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type=JSON)


def error_response(status: int, message: str) -> web.Response:
    return web.Response(body=rest_codec.error_body(message), status=status, content_type=JSON)


def _version(request: web.Request) -> int | None:
    text = request.match_info.get("version")
    if text is None:
        return None
    if not text.isascii() or not text.isdigit():
        raise errors.BadRequest(f"a model version is a whole number, got {text!r}")
    return int(text)


def _http(endpoints: tuple[Endpoint, ...]) -> tuple[Endpoint, ...]:
    """The replicas reachable over REST (an agent may, in principle, advertise only gRPC)."""
    return tuple(e for e in endpoints if e.http)


class GatewayRest:
    """Holds the current route table; `set_table` is what the route follower calls."""

    def __init__(
        self,
        config: GatewayConfig,
        proxy: Proxy,
        metrics: GatewayMetrics,
        render_metrics: Callable[[], bytes],
    ) -> None:
        self.config = config
        self.proxy = proxy
        self.metrics = metrics
        self._render_metrics = render_metrics
        self.table = RouteTable()
        self.received = False  # ready once the scheduler's first table has arrived

    def set_table(self, table: RouteTable) -> None:
        self.table = table
        self.received = True

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._envelope], client_max_size=self.config.max_body_bytes
        )
        r = app.router
        r.add_get("/v2/health/live", self.live)
        r.add_get("/v2/health/ready", self.ready)
        r.add_get("/v2", self.server_metadata)
        r.add_get("/v2/models/{model}", self.model_metadata)
        r.add_get("/v2/models/{model}/versions/{version}", self.model_metadata)
        r.add_get("/v2/models/{model}/ready", self.model_ready)
        r.add_get("/v2/models/{model}/versions/{version}/ready", self.model_ready)
        r.add_post("/v2/models/{model}/infer", self.infer)
        r.add_post("/v2/models/{model}/versions/{version}/infer", self.infer)
        r.add_get("/metrics", self.metrics_text)
        return app

    @web.middleware
    async def _envelope(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The request id on every response, and every failure in the one error shape."""
        request_id = request.headers.get(REQUEST_ID) or uuid.uuid4().hex
        request[REQUEST_ID_KEY] = request_id
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
            log.exception("unhandled error", path=request.path, request_id=request_id)
            response = error_response(500, f"internal error: {type(exc).__name__}: {exc}")
        response.headers[REQUEST_ID] = request_id
        return response

    async def live(self, request: web.Request) -> web.Response:
        return _json({"live": True})

    async def ready(self, request: web.Request) -> web.Response:
        return _json({"ready": self.received}, status=200 if self.received else 503)

    async def server_metadata(self, request: web.Request) -> web.Response:
        doc = {"name": "loadmaster-gateway", "version": loadmaster.__version__}
        return _json({**doc, "extensions": list(EXTENSIONS)})

    async def model_ready(self, request: web.Request) -> web.Response:
        """Answered from the route table: a replica in it is one the gateway would send to."""
        name = request.match_info["model"]
        try:
            self._require_replica(name, _version(request))
        except errors.ModelNotReady as exc:
            return _json({"name": name, "ready": False, "error": exc.message}, 503)
        return _json({"name": name, "ready": True})

    async def model_metadata(self, request: web.Request) -> web.Response:
        return await self._proxy(request, "GET", "")

    async def infer(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        label = name if self.table.lookup(name) is not None else UNKNOWN_MODEL
        started = time.perf_counter()
        code = "500"
        try:
            response = await self._proxy(request, "POST", "/infer")
            code = str(response.status)
            return response
        except errors.OIPError as exc:
            code = str(exc.http_status)
            raise
        except asyncio.CancelledError:
            code = "499"  # the client went away; nginx's name for it
            raise
        finally:
            self.metrics.requests.labels(label, code).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - started)

    async def metrics_text(self, request: web.Request) -> web.Response:
        body = self._render_metrics()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # ---- helpers -------------------------------------------------------------------------------

    async def _proxy(self, request: web.Request, method: str, tail: str) -> web.Response:
        """Forward to a replica, naming a version only when the client did.

        Why not pin the version the balancer chose: during a rollout an agent that has loaded
        the new version retires the old one by itself, before the scheduler's route table says
        so. A request pinned to the old version would then be refused ("is Unloading") on every
        such replica; an unversioned one is served by the agent's newest Available version.
        """
        deadline = self._deadline(request)
        body = await self._read_body(request)
        name, version = request.match_info["model"], _version(request)
        self._require_replica(name, version)
        query = f"?{request.query_string}" if request.query_string else ""
        headers = {h: request.headers[h] for h in FORWARDED if h in request.headers}
        headers[REQUEST_ID] = request[REQUEST_ID_KEY]

        prefix = (
            f"/v2/models/{name}" if version is None else f"/v2/models/{name}/versions/{version}"
        )

        def path(endpoint: Endpoint) -> str:
            return f"{prefix}{tail}{query}"

        call = Call(method, path, headers, body)
        answer = await self.proxy.send(name, lambda: self._replicas(name, version), call, deadline)
        returned = {h: answer.headers[h] for h in RETURNED if h in answer.headers}
        return web.Response(status=answer.status, body=answer.body, headers=returned)

    def _replicas(self, name: str, version: int | None) -> tuple[Endpoint, ...]:
        """The REST replicas of `name` (of `version`, when asked) in the table as it is now."""
        route = self.table.lookup(name)
        return () if route is None else _http(route.endpoints_for(version))

    def _require_replica(self, name: str, version: int | None) -> None:
        """404 for a model the scheduler does not know, 503 (saying why) for one it cannot
        serve yet, so a client can tell a typo from a model that is still loading."""
        if not self.received:
            raise errors.ModelNotReady(
                f"model '{name}' cannot be routed yet: no route table from the scheduler "
                f"at {self.config.scheduler} so far"
            )
        route = self.table.lookup(name)
        if route is None:
            raise errors.ModelNotFound(f"model '{name}' not found")
        if not self._replicas(name, version):
            what = f"model '{name}'" if version is None else f"model '{name}' version '{version}'"
            raise errors.ModelNotReady(f"{what} has no ready replica ({route.why_unavailable()})")

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
        limit = self.config.max_body_bytes
        declared = request.content_length
        if declared is not None and declared > limit:
            raise errors.PayloadTooLarge(
                f"request body of {declared} bytes exceeds the {limit} byte limit"
            )
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise errors.PayloadTooLarge(f"request body exceeds the {limit} byte limit") from None
