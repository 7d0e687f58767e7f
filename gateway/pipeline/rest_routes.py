"""The pipeline routes of the gateway's REST door.

`POST /v2/pipelines/{name}/infer` (and `POST /v2/models/{name}.pipeline/infer`, the name OIP
clients can address a pipeline by) hands the body, read raw and bounded like any inference, to
`PipelineFront`; the answer comes back as the pipeline wrote it, binary extension included.
Every response carries `x-pipeline-request-id`, the key of the pipeline's records, which
`loadmaster pipeline inspect --request-id` reads, and `x-request-id` (the client's, or the
pipeline request id when it sent none). Errors are `{"error", "pipeline", "step", "model"}`.

`mount` must run before the model routes are added: `/v2/models/{model}/infer` would take
`x.pipeline` for a model name.
"""

from __future__ import annotations

import asyncio
import re
import time

import orjson
from aiohttp import web

from gateway.front import REQUEST_ID
from gateway.pipeline.front import PipelineFront
from gateway.pipeline.outcomes import PipelineError, PipelineStatus
from gateway.rest_body import read_bounded_body
from loadmaster.oip import errors, rest_codec

HEADER_LENGTH = "Inference-Header-Content-Length"
TIMEOUT_MS = "x-request-timeout-ms"
PIPELINE_REQUEST_ID = "x-pipeline-request-id"
JSON = "application/json"
BINARY = "application/octet-stream"
REST = "rest"
SUFFIX = ".pipeline"
_MILLISECONDS = re.compile(r"[0-9]{1,12}")


def _json(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type=JSON, headers=headers
    )


class PipelineRoutes:
    def __init__(self, front: PipelineFront, max_body_bytes: int) -> None:
        self.front = front
        self.max_body_bytes = max_body_bytes

    def mount(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v2/pipelines/{name}", self.pipeline_status)
        router.add_get("/v2/pipelines/{name}/ready", self.pipeline_ready)
        router.add_post("/v2/pipelines/{name}/infer", self.infer)
        router.add_get("/v2/models/{name}" + SUFFIX, self.model_metadata)
        router.add_get("/v2/models/{name}" + SUFFIX + "/ready", self.pipeline_ready)
        router.add_post("/v2/models/{name}" + SUFFIX + "/infer", self.infer)

    async def pipeline_status(self, request: web.Request) -> web.Response:
        status = self._status(request)
        return _json(status.doc())

    async def pipeline_ready(self, request: web.Request) -> web.Response:
        status = self._status(request)
        doc: dict[str, object] = {"name": status.name, "ready": status.ready}
        if not status.ready:
            doc["error"] = status.error
        return _json(doc, 200 if status.ready else 503)

    async def model_metadata(self, request: web.Request) -> web.Response:
        """What OIP clients read for a model: the name they address the pipeline by."""
        status = self._status(request)
        name = f"{status.name}{SUFFIX}"
        doc = {"name": name, "versions": [str(status.version)], "platform": "loadmaster-pipeline"}
        return _json({**doc, "inputs": [], "outputs": []})

    async def infer(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        client_id = request.headers.get(REQUEST_ID, "")
        started = time.perf_counter()
        code = "500"
        try:
            response = await self._infer(request, name, client_id)
            code = str(response.status)
            return response
        except asyncio.CancelledError:
            code = "499"  # the client went away; the wait was cancelled with it
            raise
        finally:
            self.front.metrics.answered(
                self.front.label(name), REST, code, time.perf_counter() - started
            )

    async def _infer(self, request: web.Request, name: str, client_id: str) -> web.Response:
        try:
            timeout_ms = _timeout_ms(request)
            body = await self._read_body(request)
            header_length = rest_codec.parse_header_length(request.headers.get(HEADER_LENGTH))
        except errors.OIPError as exc:
            failure = PipelineError(exc.http_status, exc.message, pipeline=name, request_id="")
            return _failed(failure, client_id)
        try:
            answer = await self.front.infer(
                name, body, header_length, timeout_ms=timeout_ms, client_request_id=client_id
            )
        except PipelineError as exc:
            return _failed(exc, client_id)
        headers = {
            REQUEST_ID: client_id or answer.request_id,
            PIPELINE_REQUEST_ID: answer.request_id,
        }
        if answer.header_length is None:
            return web.Response(body=answer.body, content_type=JSON, headers=headers)
        headers[HEADER_LENGTH] = str(answer.header_length)
        return web.Response(body=answer.body, content_type=BINARY, headers=headers)

    def _status(self, request: web.Request) -> PipelineStatus:
        name = request.match_info["name"]
        status = self.front.status(name)
        if status is None:
            raise errors.ModelNotFound(f"pipeline '{name}' not found")
        return status

    async def _read_body(self, request: web.Request) -> bytes:
        return await read_bounded_body(request, self.max_body_bytes)


def _failed(failure: PipelineError, client_id: str) -> web.Response:
    headers = {}
    if failure.request_id:
        headers[PIPELINE_REQUEST_ID] = failure.request_id
    rid = client_id or failure.request_id
    if rid:
        headers[REQUEST_ID] = rid
    return _json(failure.fields(), failure.status, headers)


def _timeout_ms(request: web.Request) -> int | None:
    """`x-request-timeout-ms` as the rest of the gateway reads it (a positive whole number)."""
    raw = request.headers.get(TIMEOUT_MS)
    if raw is None:
        return None
    text = raw.strip()
    if not _MILLISECONDS.fullmatch(text) or int(text) == 0:
        raise errors.BadRequest(
            f"{TIMEOUT_MS} must be a positive whole number of milliseconds, got {raw!r}"
        )
    return int(text)
