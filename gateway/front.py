"""What the REST and gRPC front doors share: who the gateway says it is, request ids, versions.

Both doors must answer the same way for the same request (a version that is not a number is a
400 / INVALID_ARGUMENT whichever way it came), so the rules live here once.
"""

from __future__ import annotations

import os

from loadmaster.oip import errors

SERVER_NAME = "loadmaster-gateway"
EXTENSIONS = ("binary_tensor_data", "parameters")
REQUEST_ID = "x-request-id"
TRACE_HEADERS = ("traceparent", "tracestate")


def request_id(given: str | None) -> str:
    """The client's request id, or a new one (32 hex digits) when it sent none."""
    return given or os.urandom(16).hex()


def parse_version(text: str | None) -> int | None:
    """A model version as the client wrote it: None (or "") for any, else a whole number."""
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise errors.BadRequest(f"a model version is a whole number, got {text!r}")
    return int(text)
