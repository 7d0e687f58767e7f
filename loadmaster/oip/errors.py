"""Errors of the data plane, each carrying its REST status and gRPC code.

Handlers raise these; the transports turn them into `{"error": "..."}` with the status, or
into the matching gRPC status. Anything else that escapes is a server fault (500 / INTERNAL).
"""

from __future__ import annotations

from typing import ClassVar


class OIPError(Exception):
    """A failure to report to the client, with a message the client can act on."""

    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(OIPError):
    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class ModelNotFound(OIPError):
    http_status = 404
    grpc_code = "NOT_FOUND"


class PayloadTooLarge(OIPError):
    http_status = 413
    grpc_code = "RESOURCE_EXHAUSTED"


class ModelNotReady(OIPError):
    http_status = 503
    grpc_code = "UNAVAILABLE"


class DeadlineExceeded(OIPError):
    http_status = 504
    grpc_code = "DEADLINE_EXCEEDED"


class InferenceFailed(OIPError):
    """The model itself failed on a well-formed request (its own message is kept)."""

    http_status = 500
    grpc_code = "INTERNAL"
