"""gRPC attempts for the proxy: one raw-bytes call to one agent, sorted into answer or failure.

An agent answers UNAVAILABLE for a model version that is not (or no longer) Available and
NOT_FOUND for one it does not have: what a replica being unloaded says while the table without
it is on its way. Both are `Retryable`, and so is an UNAVAILABLE raised by the channel itself
(refused, reset, closed before an answer): for a unary call nothing of the answer has arrived
then, the same rule REST follows. Any other status is the agent's answer and goes back to the
client as it came (`AgentStatus`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from gateway.grpc_channels import Channels
from gateway.proxy import Attempt, Retryable
from gateway.routes import Endpoint

Metadata = Sequence[tuple[str, str]]
# Words of grpc-core's own UNAVAILABLE messages: the agent was not reached (metrics only; an
# agent's own UNAVAILABLE says the model is not ready).
TRANSPORT_WORDS = (
    "failed to connect",
    "socket closed",
    "connection reset",
    "broken pipe",
    "goaway",
)


class AgentStatus(Exception):
    """A status the agent answered with, passed back to the client unchanged."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


@dataclass(frozen=True, slots=True)
class GrpcCall:
    """One client call, ready to send to any replica: the method's name and the raw request."""

    method: str
    request: bytes
    metadata: Metadata


def unavailable_kind(details: str) -> str:
    lowered = details.lower()
    return "unreachable" if any(w in lowered for w in TRANSPORT_WORDS) else "not_ready"


def sort_failure(exc: grpc.aio.AioRpcError) -> Exception:
    """What a failed call means for the proxy: retry elsewhere, or the client's answer."""
    code, details = exc.code(), exc.details() or ""
    if code is grpc.StatusCode.UNAVAILABLE:
        return Retryable(unavailable_kind(details), f"answered UNAVAILABLE: {details}")
    if code is grpc.StatusCode.NOT_FOUND:
        return Retryable("not_found", f"answered NOT_FOUND: {details}")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return TimeoutError(details)  # the proxy turns it into the deadline's own message
    return AgentStatus(code, details)


def unary(channels: Channels, call: GrpcCall) -> Attempt[bytes]:
    """Send `call` to the replica's gRPC address and return the agent's answer as bytes."""

    async def attempt(endpoint: Endpoint, remaining_s: float) -> bytes:
        method = channels.unary(endpoint.grpc, call.method)
        try:
            answer: bytes = await method(call.request, timeout=remaining_s, metadata=call.metadata)
        except grpc.aio.AioRpcError as exc:
            raise sort_failure(exc) from None
        return answer

    return attempt
