"""Relaying an agent's server-sent events (`infer_stream`) to the client as they arrive.

Chunks are written on as soon as they are read, never gathered: a client streaming tokens
should see each one when the model produced it. Once the first byte has gone out the status
is spent, so a failure after that (the deadline, the agent breaking off) becomes one last
event, `data: {"error": "..."}`, which is how an agent reports a failing stream itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from loadmaster.oip import rest_codec

EVENT_STREAM = "text/event-stream"
EVENT_END = b"\n\n"


@dataclass(frozen=True, slots=True)
class StreamFailure:
    """Why a relayed stream ended early; `kind` is the upstream error's metrics label."""

    kind: str
    message: str


def error_event(message: str, after: bytes) -> bytes:
    """The closing error event; it first ends an event the agent left half written."""
    prefix = b"" if after.endswith(EVENT_END) or not after else EVENT_END
    return prefix + b"data: " + rest_codec.error_body(message) + EVENT_END


async def relay(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    headers: Mapping[str, str],
    expires: float,
    timed_out: str,
    broken: str,
) -> tuple[web.StreamResponse, StreamFailure | None]:
    """Stream `upstream`'s body to the client until it ends or `expires` (loop time).

    `timed_out` and `broken` are the messages for those two ways of ending early; a broken
    stream's message gets the client library's own words appended.
    """
    stream = web.StreamResponse(status=upstream.status, headers=headers)
    await stream.prepare(request)
    last = b""
    failure: StreamFailure | None = None
    try:
        async with asyncio.timeout_at(expires):
            async for chunk in upstream.content.iter_any():
                await stream.write(chunk)
                last = (last + chunk)[-len(EVENT_END) :]
    except TimeoutError:
        failure = StreamFailure("timeout", timed_out)
    except aiohttp.ClientError as exc:
        failure = StreamFailure("broken", f"{broken} ({type(exc).__name__}: {exc})")
    if failure is not None:
        await stream.write(error_event(failure.message, last))
    await stream.write_eof()
    return stream, failure
