"""REST attempts for the proxy: one request to one agent, sorted into answer or failure.

An agent's 503 (the version is not ready) and 404 (the version is not there) are what a
replica being unloaded answers while the table without it is on its way, so they are
`Retryable`, like a refused or reset connection. Every other status is the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from gateway.proxy import Attempt, BrokenOff, Retryable
from gateway.routes import Endpoint
from gateway.upstream import (
    Upstream,
    UpstreamBroken,
    UpstreamResponse,
    UpstreamUnreachable,
    read_all,
)

RETRY_STATUSES = {503: "not_ready", 404: "not_found"}


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One client request, ready to send to any replica."""

    method: str
    path_qs: str
    headers: Mapping[str, str]
    body: bytes


def agent_error(body: bytes) -> str:
    """The agent's `{"error": ...}` text, or what there is of the body when it is not one."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return str(parsed["error"])
    return body[:200].decode("utf-8", "replace")


def unary(upstream: Upstream, call: HttpCall) -> Attempt[UpstreamResponse]:
    """Send `call` and read the whole answer. The proxy's deadline bounds the attempt (it
    cancels it, which closes the connection), so no second timer is armed for it here."""

    async def attempt(endpoint: Endpoint, remaining_s: float) -> UpstreamResponse:
        try:
            response = await upstream.forward(
                endpoint, call.method, call.path_qs, call.headers, call.body, None
            )
        except UpstreamUnreachable as exc:
            raise Retryable("unreachable", f"unreachable ({exc.message})") from None
        except UpstreamBroken as exc:
            raise BrokenOff(exc.message) from None
        kind = RETRY_STATUSES.get(response.status)
        if kind is not None:
            problem = f"answered {response.status}: {agent_error(response.body)}"
            raise Retryable(kind, problem)
        return response

    return attempt


def opening(upstream: Upstream, call: HttpCall) -> Attempt[aiohttp.ClientResponse]:
    """Send `call` and return the response once its head has arrived, body unread: a stream
    the caller relays. Only the head decides a retry; the body's bound is the caller's."""

    async def attempt(endpoint: Endpoint, remaining_s: float) -> aiohttp.ClientResponse:
        try:
            response = await upstream.open(
                endpoint, call.method, call.path_qs, call.headers, call.body, None
            )
        except UpstreamUnreachable as exc:
            raise Retryable("unreachable", f"unreachable ({exc.message})") from None
        except UpstreamBroken as exc:
            raise BrokenOff(exc.message) from None
        kind = RETRY_STATUSES.get(response.status)
        if kind is None:
            return response
        try:
            body = await read_all(endpoint, response)
        except UpstreamBroken as exc:
            raise BrokenOff(exc.message) from None
        finally:
            response.release()
        raise Retryable(kind, f"answered {response.status}: {agent_error(body)}")

    return attempt
