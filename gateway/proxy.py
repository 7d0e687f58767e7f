"""Sending one client request to a replica: choose, attempt, retry once, within a deadline.

Transport-independent: an `Attempt` (REST in `rest_forward`, gRPC in `grpc_forward`) sends the
request to one replica and either returns the answer to pass back, raises `Retryable` when it
failed before reaching a model, raises `BrokenOff` when the answer began and broke, or raises
an error that is the answer. A retry goes to a different replica and happens only after a
`Retryable` failure: the agent was unreachable, or said the model is not ready or not there,
which is what a replica being unloaded says while the new table is on its way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gateway.balancer import Balancer
from gateway.metrics import GatewayMetrics
from gateway.routes import Endpoint
from loadmaster import logs
from loadmaster.oip import errors

log = logs.get_logger("gateway.proxy")

T = TypeVar("T")
ATTEMPTS = 2
Candidates = Callable[[], Sequence[Endpoint]]  # the replicas to choose from, asked per attempt
Attempt = Callable[[Endpoint, float], Awaitable[T]]  # one replica, the seconds left


class BadGateway(errors.OIPError):
    """A replica's response broke off: it may have run the model, so it is not retried."""

    http_status = 502
    grpc_code = "UNAVAILABLE"


class Retryable(Exception):
    """An attempt that failed before reaching a model; `kind` is its metrics label."""

    def __init__(self, kind: str, problem: str) -> None:
        super().__init__(problem)
        self.kind = kind
        self.problem = problem


class BrokenOff(Exception):
    """The replica's answer began and did not arrive whole."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


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
class Job:
    """One client request as the proxy sees it: the model it is for and its bounds."""

    model: str
    protocol: str
    request_id: str
    deadline: Deadline


def replica(endpoint: Endpoint) -> str:
    return f"replica on server '{endpoint.server}' (version {endpoint.version})"


class Proxy:
    def __init__(self, balancer: Balancer, metrics: GatewayMetrics) -> None:
        self.balancer = balancer
        self.metrics = metrics

    async def send(
        self,
        job: Job,
        candidates: Candidates,
        attempt: Attempt[T],
        first: Sequence[Endpoint] | None = None,
    ) -> T:
        """The first usable answer from a replica of `job.model`, within its deadline.

        `first`, when given, are the replicas to choose from for the first attempt (the ones
        the router just found ready). `candidates` is asked before the retry: the table may
        have changed meanwhile (the replica that failed was being unloaded, say), and the retry
        should use the new one.
        """
        endpoint, answer = await self._within_deadline(job, candidates, attempt, first)
        self.balancer.release(endpoint)
        return answer

    @contextlib.asynccontextmanager
    async def opened(
        self, job: Job, candidates: Candidates, attempt: Attempt[T]
    ) -> AsyncIterator[tuple[Endpoint, T]]:
        """Like `send` for an answer that streams: the replica that answered stays counted busy
        until the block ends, and the deadline covers only the opening."""
        endpoint, answer = await self._within_deadline(job, candidates, attempt)
        try:
            yield endpoint, answer
        finally:
            self.balancer.release(endpoint)

    def failed(self, job: Job, endpoint: Endpoint, kind: str, problem: str) -> None:
        """Count and log a failed attempt (streams report theirs here too)."""
        self.metrics.upstream_errors.labels(job.model, job.protocol, kind).inc()
        log.warning(
            "replica attempt failed",
            model=job.model,
            protocol=job.protocol,
            server=endpoint.server,
            version=endpoint.version,
            kind=kind,
            problem=problem,
            request_id=job.request_id,
        )

    async def _within_deadline(
        self,
        job: Job,
        candidates: Candidates,
        attempt: Attempt[T],
        first: Sequence[Endpoint] | None = None,
    ) -> tuple[Endpoint, T]:
        """Choose, attempt, retry once on another replica after a `Retryable` failure; the
        answer comes with its replica left counted busy (released on any failure)."""
        loop = asyncio.get_running_loop()
        expires = loop.time() + job.deadline.seconds
        balancer = self.balancer
        tried: set[Endpoint] = set()
        failures: list[str] = []
        try:
            async with asyncio.timeout_at(expires):
                for number in range(ATTEMPTS):
                    choices = first if number == 0 and first is not None else candidates()
                    endpoint = balancer.choose(choices, exclude=tried)
                    if endpoint is None:
                        failures.append("no other replica to retry on")
                        break
                    if number:
                        self.metrics.retries.labels(job.model, job.protocol).inc()
                    tried.add(endpoint)
                    remaining_s = max(expires - loop.time(), 0.001)
                    balancer.acquire(endpoint)
                    try:
                        return endpoint, await attempt(endpoint, remaining_s)
                    except Retryable as exc:
                        balancer.release(endpoint)
                        failure = f"{replica(endpoint)} {exc.problem}"
                        self.failed(job, endpoint, exc.kind, failure)
                        failures.append(failure)
                    except BrokenOff as exc:
                        balancer.release(endpoint)
                        self.failed(job, endpoint, "broken", exc.problem)
                        raise BadGateway(
                            f"model '{job.model}': {replica(endpoint)} broke off its response "
                            f"({exc.problem})"
                        ) from None
                    except BaseException:
                        balancer.release(endpoint)
                        raise
        except TimeoutError:
            self.metrics.upstream_errors.labels(job.model, job.protocol, "timeout").inc()
            raise errors.DeadlineExceeded(job.deadline.exceeded(job.model)) from None
        raise errors.ModelNotReady(
            f"model '{job.model}' could not be served: {'; '.join(failures)}"
        )
