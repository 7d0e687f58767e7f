"""How a model worker calls a step's model: one OIP REST request through the gateway.

The call goes through the gateway rather than straight to an agent so a step gets everything a
direct caller gets (balancing, retries on another replica, experiments, mirrors) with no second
copy of that logic. `ModelCall` is the seam: the model worker's unit tests inject a fake, and
`HttpModelCall` is the real one, on the gateway's own pooled HTTP/1.1 client (the cheapest
client this project has for one unary request on a kept-alive connection).

A call either returns the gateway's answer, whatever its status, or raises `GatewayUnreachable`
when no answer came (refused, reset, broken mid-answer): the worker retries those, since a
pipeline step is at-least-once anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import orjson

from gateway.http1 import NoResponse, ResponseBroken
from gateway.http1_pool import Http1Pool

HEADER_LENGTH = "Inference-Header-Content-Length"
TIMEOUT_MS = "x-request-timeout-ms"
REQUEST_ID = "x-request-id"


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """The gateway's answer: `header_length` is its Inference-Header-Content-Length."""

    status: int
    body: bytes
    header_length: int | None = None


class GatewayUnreachable(Exception):
    """No answer came from the gateway; the message says what happened."""


class ModelCall(Protocol):
    async def __call__(
        self,
        model: str,
        body: bytes,
        header_length: int | None,
        timeout_ms: int,
        request_id: str,
    ) -> ModelAnswer: ...


@dataclass(frozen=True, slots=True)
class GatewayAddress:
    """Where `POST /v2/models/{model}/infer` goes: HOST:PORT and a path prefix (often empty)."""

    address: str
    base_path: str

    @classmethod
    def parse(cls, url: str) -> GatewayAddress:
        """Raises ValueError for anything but http://HOST[:PORT][/PATH]."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port or 80
        except ValueError as exc:
            raise ValueError(f"gateway URL {url!r}: {exc}") from None
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"gateway URL {url!r}: expected http://HOST:PORT")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"gateway URL {url!r}: expected http://HOST:PORT[/PATH], nothing more")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return cls(f"{host}:{port}", parts.path.rstrip("/"))

    def infer_path(self, model: str) -> str:
        return f"{self.base_path}/v2/models/{model}/infer"


def header_length_of(text: str | None) -> int | None:
    """Inference-Header-Content-Length as a number; None when absent or not a number."""
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


MAX_MESSAGE_CHARS = 2000  # a model's error text beyond this is cut: it travels in a record


def failure_status(status: int) -> int:
    """The status a failed step reports: the model's 4xx as is, 503 (not ready) and 504 (past
    the deadline) as is, 500 for every other failure."""
    if 400 <= status < 500 or status in (503, 504):
        return status
    return 500


def failure_message(answer: ModelAnswer) -> str:
    """The `error` field of a JSON answer, else the answer's text, else the bare status."""
    text = ""
    try:
        parsed = orjson.loads(answer.body) if answer.header_length is None else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        text = parsed["error"]
    elif answer.body:
        text = answer.body.decode("utf-8", "replace").strip()
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "..."
    return text or f"the model answered HTTP {answer.status} with no message"


class HttpModelCall:
    """`ModelCall` over keep-alive HTTP/1.1 connections to one gateway, at most
    `connections` at a time (the worker's in-flight bound, so no call waits for one)."""

    def __init__(self, gateway_url: str, connections: int = 256) -> None:
        self.url = gateway_url
        self._gateway = GatewayAddress.parse(gateway_url)
        self._pool = Http1Pool(per_address=connections)

    async def __call__(
        self,
        model: str,
        body: bytes,
        header_length: int | None,
        timeout_ms: int,
        request_id: str,
    ) -> ModelAnswer:
        headers = {
            "Content-Type": "application/json",
            TIMEOUT_MS: str(max(timeout_ms, 1)),
            REQUEST_ID: request_id,
        }
        if header_length is not None:
            headers["Content-Type"] = "application/octet-stream"
            headers[HEADER_LENGTH] = str(header_length)
        try:
            response = await self._pool.request(
                self._gateway.address, "POST", self._gateway.infer_path(model), headers, body
            )
        except (NoResponse, ResponseBroken) as exc:
            raise GatewayUnreachable(f"{type(exc).__name__}: {exc}") from exc
        return ModelAnswer(
            response.status, response.body, header_length_of(response.headers.get(HEADER_LENGTH))
        )

    def close(self) -> None:
        self._pool.close()
