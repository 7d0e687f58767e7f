"""A small pooled keep-alive HTTP/1.1 client for the gateway's unary REST forwarding.

A general client (aiohttp's) spent about a third of the gateway's CPU per request on cookie
jars, URL objects, traces, timers and stream readers that a forwarded inference never needs.
This one writes the request on an `asyncio.Protocol` and parses the answer as it arrives
(`http1_parse`), one request in flight per connection, at most `per_address` connections per
agent address (a burst beyond that waits for one to come free).

Failures are told apart by when they happened, because that decides whether a retry is safe:
`NoResponse` when not one byte of an answer arrived (connection refused, reset or closed
first), `ResponseBroken` when the answer began and did not arrive whole. A kept-alive
connection that the agent closed while it sat idle fails the first way; it is retried once on a
fresh connection here, since the request never reached the agent. A connection whose exchange
was cut short (timeout, cancellation, failure) is closed, never put back.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote

from gateway.http1_parse import ProtocolError, ResponseParser

KEEPALIVE_S = 30.0  # idle connections older than this are closed (agents close at 75 s)
_TARGET = re.compile(r"[!-~]+")  # a request target with no space or control character
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_LARGE = 64 * 1024  # bodies above this are written after the head, not copied onto it


class NoResponse(Exception):
    """The connection failed before any byte of a response arrived."""


class ResponseBroken(Exception):
    """The response began but did not arrive whole, or was not HTTP."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _describe(exc: BaseException | None, default: str) -> str:
    if exc is None:
        return default
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def request_head(
    method: str, path_qs: str, host: str, headers: Mapping[str, str], length: int
) -> bytes:
    """The request line and headers; framing headers are the client's own, not the caller's."""
    if not _TARGET.fullmatch(path_qs):
        path_qs = quote(path_qs, safe="/?=&%:@!$'()*+,;~-._")
    lines = [f"{method} {path_qs} HTTP/1.1\r\nHost: {host}\r\n"]
    if length or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {length}\r\n")
    for name, value in headers.items():
        if name.lower() not in _FRAMING:
            lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


class Connection(asyncio.Protocol):
    """One TCP connection to an agent, carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser: ResponseParser | None = None
        self._waiter: asyncio.Future[ResponseParser] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        try:
            whole = parser.feed(data)
        except ProtocolError as exc:
            self._settle(None, ResponseBroken(f"malformed response: {exc}"))
            self.close()
            return
        if whole:
            self._settle(parser, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        parser = self._parser
        if parser is None:
            return
        if not parser.began:
            reason = _describe(exc, "connection closed before any response")
            self._settle(None, NoResponse(reason))
        elif parser.feed_eof():
            self._settle(parser, None)
        else:
            reason = _describe(exc, "connection closed")
            self._settle(None, ResponseBroken(f"response cut short: {reason}"))

    def _settle(self, parser: ResponseParser | None, error: Exception | None) -> None:
        waiter = self._waiter
        self._parser = self._waiter = None
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(parser)  # type: ignore[arg-type]
        else:
            waiter.set_exception(error)

    async def exchange(self, head: bytes, body: bytes, no_body: bool) -> ResponseParser:
        """Send one request and wait for the whole response."""
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise NoResponse("connection closed before the request was sent")
        waiter: asyncio.Future[ResponseParser] = asyncio.get_running_loop().create_future()
        self._parser = ResponseParser(no_body)
        self._waiter = waiter
        if len(body) > _LARGE:
            transport.write(head)
            transport.write(body)
        else:
            transport.write(head + body)
        return await waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
