"""The HTTP client the gateway talks to agents with: pooled keep-alive connections.

Bodies travel as bytes in both directions, never decoded or re-encoded: tritonclient's binary
tensor extension only works when the body and `Inference-Header-Content-Length` arrive exactly
as sent. Failures are split by when they happen, because that decides whether a retry is safe:
before any response (`UpstreamUnreachable`: the agent never answered, try another replica) or
after the response began (`UpstreamBroken`: the agent may have run the model; do not repeat it).

Unary requests, the hot path, go over the gateway's own small HTTP/1.1 client (`http1_pool`);
streams (`infer_stream`), whose body the caller relays as it arrives, over aiohttp's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
from yarl import URL

from gateway.http1 import KEEPALIVE_S, NoResponse, ResponseBroken
from gateway.http1 import Response as UpstreamResponse
from gateway.http1_pool import Http1Pool
from gateway.routes import Endpoint

__all__ = ["Upstream", "UpstreamBroken", "UpstreamResponse", "UpstreamUnreachable", "read_all"]


class UpstreamError(Exception):
    """A replica failed to answer; `endpoint` says which, the message says how."""

    def __init__(self, endpoint: Endpoint, message: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.message = message


class UpstreamUnreachable(UpstreamError):
    """Refused, reset or closed before any response: the request never reached a model."""


class UpstreamBroken(UpstreamError):
    """The response began but did not arrive whole (truncated body, protocol error)."""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def read_all(endpoint: Endpoint, response: aiohttp.ClientResponse) -> bytes:
    """The rest of `response`'s body; a break raises `UpstreamBroken`, a timeout `TimeoutError`."""
    try:
        return await response.read()
    except TimeoutError:
        raise
    except aiohttp.ClientError as exc:
        raise UpstreamBroken(endpoint, _describe(exc)) from exc


class Upstream:
    """Pooled connections to agents: `forward` (unary) on the gateway's own client, `open`
    (streams) on a `ClientSession` made on first use (it must be made inside the event loop).
    Each caps its connections per agent at `connections_per_endpoint`."""

    def __init__(self, connections_per_endpoint: int = 64) -> None:
        self._per_endpoint = connections_per_endpoint
        self._session: aiohttp.ClientSession | None = None
        self._pool = Http1Pool(connections_per_endpoint, KEEPALIVE_S)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=0,  # no cap across agents; the cap that matters is per agent
                limit_per_host=self._per_endpoint,
                keepalive_timeout=KEEPALIVE_S,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # bytes pass through as the agent sent them
                skip_auto_headers=("Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def open(
        self,
        endpoint: Endpoint,
        method: str,
        path_qs: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout_s: float | None,
    ) -> aiohttp.ClientResponse:
        """Send one request and return once the response's head has arrived; the body is the
        caller's to read (or not: `close` the response then). `timeout_s` bounds the whole
        exchange, body included (None: no bound); it raises `TimeoutError` unchanged."""
        url = URL(f"http://{endpoint.http}{path_qs}", encoded=True)
        try:
            return await self._client().request(
                method,
                url,
                data=body if body else None,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            )
        except TimeoutError:
            raise
        except aiohttp.ClientConnectionError as exc:
            raise UpstreamUnreachable(endpoint, _describe(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(endpoint, _describe(exc)) from exc

    async def forward(
        self,
        endpoint: Endpoint,
        method: str,
        path_qs: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout_s: float | None,
    ) -> UpstreamResponse:
        """Send one request to `endpoint` and read the whole answer; `timeout_s` bounds the
        whole exchange (None: the caller bounds it) and raises `TimeoutError` unchanged."""
        pool = self._pool
        try:
            if timeout_s is None:
                return await pool.request(endpoint.http, method, path_qs, headers, body)
            async with asyncio.timeout(timeout_s):
                return await pool.request(endpoint.http, method, path_qs, headers, body)
        except NoResponse as exc:
            raise UpstreamUnreachable(endpoint, str(exc)) from exc
        except ResponseBroken as exc:
            raise UpstreamBroken(endpoint, str(exc)) from exc

    async def close(self) -> None:
        self._pool.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
