"""Sending one client request to a replica: choose, forward, retry once, within a deadline.

Transport-independent on the client side (the REST front door uses it today, a gRPC one can
tomorrow); it answers with the agent's response, or raises an `OIPError` that says what went
wrong. A retry goes to a different replica and happens only when the first attempt failed
before reaching a model: the agent was unreachable, or answered 503 (not ready) or 404 (not
there), which is what a replica being unloaded answers while the new table is on its way.
Anything else, a 400 above all, is the answer and is passed back as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import orjson

from gateway.balancer import Balancer
from gateway.metrics import GatewayMetrics
from gateway.routes import Endpoint
from gateway.upstream import Upstream, UpstreamBroken, UpstreamResponse, UpstreamUnreachable
from loadmaster import logs
from loadmaster.oip import errors

log = logs.get_logger("gateway.proxy")

RETRY_STATUSES = {503: "not_ready", 404: "not_found"}
ATTEMPTS = 2
Candidates = Callable[[], Sequence[Endpoint]]  # the replicas to choose from, asked per attempt


class BadGateway(errors.OIPError):
    """A replica's response broke off: it may have run the model, so it is not retried."""

    http_status = 502
    grpc_code = "UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class Deadline:
    """How long a request may wait for its model, and whether the client set it."""

    seconds: float
    client_ms: int | None = None

    def exceeded(self, model: str) -> str:
        if self.client_ms is not None:
            return f"deadline of {self.client_ms} ms exceeded waiting for model '{model}'"
        return f"upstream timeout of {self.seconds:g} s exceeded waiting for model '{model}'"


@dataclass(frozen=True, slots=True)
class Call:
    """One client request, ready to send: `path` builds the agent's path for a replica."""

    method: str
    path: Callable[[Endpoint], str]
    headers: Mapping[str, str]
    body: bytes


def _agent_error(body: bytes) -> str:
    """The agent's `{"error": ...}` text, or what there is of the body when it is not one."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return str(parsed["error"])
    return body[:200].decode("utf-8", "replace")


class Proxy:
    def __init__(self, upstream: Upstream, balancer: Balancer, metrics: GatewayMetrics) -> None:
        self.upstream = upstream
        self.balancer = balancer
        self.metrics = metrics

    async def send(
        self, model: str, candidates: Candidates, call: Call, deadline: Deadline
    ) -> UpstreamResponse:
        """The first usable answer from a replica of `model`, within `deadline`.

        `candidates` is asked again before the retry: the table may have changed meanwhile
        (the replica that failed was being unloaded, say), and the retry should use the new one.
        """
        expires = asyncio.get_running_loop().time() + deadline.seconds
        try:
            async with asyncio.timeout_at(expires):
                return await self._attempts(model, candidates, call, expires)
        except TimeoutError:
            self.metrics.upstream_errors.labels(model, "timeout").inc()
            raise errors.DeadlineExceeded(deadline.exceeded(model)) from None

    async def _attempts(
        self, model: str, candidates: Candidates, call: Call, expires: float
    ) -> UpstreamResponse:
        tried: set[Endpoint] = set()
        failures: list[str] = []
        for attempt in range(ATTEMPTS):
            endpoint = self.balancer.choose(candidates(), exclude=tried)
            if endpoint is None:
                failures.append("no other replica to retry on")
                break
            if attempt:
                self.metrics.retries.labels(model).inc()
            tried.add(endpoint)
            response, failure = await self._attempt(model, endpoint, call, expires)
            if response is not None:
                return response
            failures.append(failure)
        raise errors.ModelNotReady(f"model '{model}' could not be served: {'; '.join(failures)}")

    async def _attempt(
        self, model: str, endpoint: Endpoint, call: Call, expires: float
    ) -> tuple[UpstreamResponse | None, str]:
        """The answer to pass back, or None and what failed in a way that is safe to retry."""
        replica = f"replica on server '{endpoint.server}' (version {endpoint.version})"
        remaining_s = max(expires - asyncio.get_running_loop().time(), 0.001)
        async with self.balancer.using(endpoint):
            try:
                response = await self.upstream.forward(
                    endpoint, call.method, call.path(endpoint), call.headers, call.body, remaining_s
                )
            except UpstreamUnreachable as exc:
                kind, failure = "unreachable", f"{replica} unreachable ({exc.message})"
            except UpstreamBroken as exc:
                self._failed(model, endpoint, call, "broken", exc.message)
                raise BadGateway(
                    f"model '{model}': {replica} broke off its response ({exc.message})"
                ) from None
            else:
                retry_kind = RETRY_STATUSES.get(response.status)
                if retry_kind is None:
                    return response, ""
                error = _agent_error(response.body)
                kind, failure = retry_kind, f"{replica} answered {response.status}: {error}"
        self._failed(model, endpoint, call, kind, failure)
        return None, failure

    def _failed(self, model: str, endpoint: Endpoint, call: Call, kind: str, problem: str) -> None:
        self.metrics.upstream_errors.labels(model, kind).inc()
        log.warning(
            "replica attempt failed",
            model=model,
            server=endpoint.server,
            version=endpoint.version,
            kind=kind,
            problem=problem,
            request_id=call.headers.get("x-request-id"),
        )
