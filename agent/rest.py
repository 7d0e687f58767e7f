"""OIP over REST: a thin aiohttp adapter over the data plane.

Bodies are read raw (tritonclient sends no Content-Type and uses the binary extension), bounded
by the configured limit (413), and every error is `{"error": "..."}` with its status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent.dataplane import DataPlane
from loadmaster import logs
from loadmaster.oip import errors, rest_codec
from loadmaster.oip.types import InferRequest

log = logs.get_logger("agent.rest")

HEADER_LENGTH = "Inference-Header-Content-Length"
JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type=JSON)


def error_response(status: int, message: str) -> web.Response:
    return web.Response(body=rest_codec.error_body(message), status=status, content_type=JSON)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.OIPError as exc:
        return error_response(exc.http_status, exc.message)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, f"request body too large: {exc.text}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason)
    except Exception as exc:
        log.exception("unhandled error", path=request.path)
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


def _header_length(request: web.Request) -> int | None:
    value = request.headers.get(HEADER_LENGTH)
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise errors.BadRequest(f"{HEADER_LENGTH} must be an integer, got {value!r}") from None
    if length < 0:
        raise errors.BadRequest(f"{HEADER_LENGTH} must not be negative, got {length}")
    return length


async def read_body(request: web.Request, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise errors.PayloadTooLarge(f"request body of {declared} bytes exceeds the {limit} limit")
    body = await request.read()
    if len(body) > limit:
        raise errors.PayloadTooLarge(f"request body exceeds the {limit} byte limit")
    return body


async def _optional_json(request: web.Request, limit: int) -> dict[str, object]:
    body = await read_body(request, limit)
    if not body.strip():
        return {}
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest(f"malformed JSON body: {exc}") from None
    if not isinstance(parsed, dict):
        raise errors.BadRequest("the request body must be a JSON object")
    return parsed


class RestApi:
    def __init__(self, plane: DataPlane, registry_render: Callable[[], bytes]) -> None:
        self.plane = plane
        self.limit = plane.config.max_body_bytes
        self._render_metrics = registry_render

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors], client_max_size=self.limit + 1)
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
        r.add_post("/v2/models/{model}/infer_stream", self.infer_stream)
        r.add_post("/v2/models/{model}/versions/{version}/infer_stream", self.infer_stream)
        r.add_post("/v2/repository/index", self.repository_index)
        r.add_post("/v2/repository/models/{model}/load", self.load)
        r.add_post("/v2/repository/models/{model}/unload", self.unload)
        r.add_get("/metrics", self.metrics)
        return app

    async def live(self, request: web.Request) -> web.Response:
        return _json({"live": self.plane.live()})

    async def ready(self, request: web.Request) -> web.Response:
        ready = self.plane.ready()
        return _json({"ready": ready}, status=200 if ready else 503)

    async def server_metadata(self, request: web.Request) -> web.Response:
        body = rest_codec.server_metadata_json(self.plane.server_metadata())
        return web.Response(body=body, content_type=JSON)

    async def model_metadata(self, request: web.Request) -> web.Response:
        info = request.match_info
        metadata = self.plane.model_metadata(info["model"], info.get("version", ""))
        return web.Response(body=rest_codec.model_metadata_json(metadata), content_type=JSON)

    async def model_ready(self, request: web.Request) -> web.Response:
        info = request.match_info
        name = info["model"]
        ready = self.plane.model_ready(name, info.get("version", ""))
        if ready:
            return _json({"name": name, "ready": True})
        return _json({"name": name, "ready": False, "error": f"model '{name}' is not ready"}, 503)

    async def _decode(self, request: web.Request) -> InferRequest:
        info = request.match_info
        body = await read_body(request, self.limit)
        decoded = rest_codec.decode_infer_request(
            body, _header_length(request), info["model"], info.get("version", "")
        )
        return decoded

    async def infer(self, request: web.Request) -> web.Response:
        decoded = await self._decode(request)
        response = await self.plane.infer(decoded)
        body, header_length = rest_codec.encode_infer_response(response, decoded)
        if header_length is None:
            return web.Response(body=body, content_type=JSON)
        return web.Response(
            body=body,
            headers={HEADER_LENGTH: str(header_length)},
            content_type="application/octet-stream",
        )

    async def infer_stream(self, request: web.Request) -> web.StreamResponse:
        decoded = await self._decode(request)
        parts = self.plane.infer_stream(decoded)
        first = await anext(parts, None)  # errors before the first part keep their status
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await stream.prepare(request)
        try:
            part = first
            while part is not None:
                body, header_length = rest_codec.encode_infer_response(part, decoded)
                if header_length is not None:
                    raise errors.BadRequest("streamed outputs travel as JSON; ask for no binary")
                await stream.write(b"data: " + body + b"\n\n")
                part = await anext(parts, None)
        except errors.OIPError as exc:
            await stream.write(b"data: " + rest_codec.error_body(exc.message) + b"\n\n")
        await stream.write_eof()
        return stream

    async def repository_index(self, request: web.Request) -> web.Response:
        payload = await _optional_json(request, self.limit)
        ready_only = payload.get("ready") is True
        entries = self.plane.repository_index(ready_only=ready_only)
        return web.Response(body=rest_codec.repository_index_json(entries), content_type=JSON)

    async def load(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        payload = await _optional_json(request, self.limit)
        parameters = payload.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise errors.BadRequest("'parameters' must be a JSON object")
        record = await self.plane.load_with_parameters(name, parameters)
        return _json({"name": record.name, "version": record.version, "state": record.state})

    async def unload(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        await _optional_json(request, self.limit)
        await self.plane.unload(name)
        return _json({"name": name, "state": "Unloaded"})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._render_metrics(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


def render_registry(registry: object) -> Callable[[], bytes]:
    from prometheus_client import CollectorRegistry

    assert isinstance(registry, CollectorRegistry)
    return lambda: generate_latest(registry)
