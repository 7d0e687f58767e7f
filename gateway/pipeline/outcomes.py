"""What a pipeline request can come to, in one shape both front doors turn into their own.

REST answers a `PipelineError` as `{"error", "pipeline", "step", "model"}` with its status;
gRPC as the matching status code with the step and model in trailing metadata. The messages
are made here once, so both doors say the same thing for the same failure, and a failing step
is named with its model and the model's own message.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadmaster.kafka.records import ErrorRecord

NEED_KAFKA = "pipelines need Kafka: start the gateway with --kafka-bootstrap"
_GRPC_CODES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "RESOURCE_EXHAUSTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def grpc_code_of(status: int) -> str:
    """The gRPC status name for an HTTP status: the usual pairs, other 4xx INVALID_ARGUMENT,
    anything else INTERNAL."""
    code = _GRPC_CODES.get(status)
    if code is not None:
        return code
    return "INVALID_ARGUMENT" if 400 <= status < 500 else "INTERNAL"


@dataclass(frozen=True, slots=True)
class PipelineAnswer:
    """A pipeline's answer: an OIP REST response body (binary when `header_length` is set)."""

    body: bytes
    header_length: int | None
    request_id: str  # the pipeline request id (records' key), for `pipeline inspect`


class PipelineError(Exception):
    """A pipeline request that failed: `status` is the HTTP status to answer with; `step` and
    `model` name the failing step when one failed, else they are empty."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        pipeline: str,
        request_id: str,
        step: str = "",
        model: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.pipeline = pipeline
        self.request_id = request_id
        self.step = step
        self.model = model

    @property
    def grpc_code(self) -> str:
        return grpc_code_of(self.status)

    def fields(self) -> dict[str, str]:
        """The JSON error body: the message, the pipeline, and the step and model if known."""
        doc = {"error": self.message, "pipeline": self.pipeline}
        if self.step:
            doc["step"] = self.step
        if self.model:
            doc["model"] = self.model
        return doc


def from_error_record(pipeline: str, request_id: str, record: ErrorRecord) -> PipelineError:
    """`pipeline 'P' step 'S' (model 'M'): <the model's message>` with the record's status
    (500 when the record carries something that is not an error status)."""
    name = record.pipeline or pipeline
    where = f"pipeline '{name}'"
    if record.step:
        where += f" step '{record.step}'"
        if record.model:
            where += f" (model '{record.model}')"
    status = record.status if 400 <= record.status <= 599 else 500
    return PipelineError(
        status,
        f"{where}: {record.message}",
        pipeline=name,
        request_id=request_id,
        step=record.step,
        model=record.model,
    )


@dataclass(frozen=True, slots=True)
class PipelineStatus:
    """A pipeline as the gateway sees it: the scheduler's state and reason, and whether the
    gateway would take a request for it now (`error` says why not)."""

    name: str
    version: int
    state: str
    reason: str
    ready: bool
    error: str = ""

    def doc(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "name": self.name,
            "version": self.version,
            "state": self.state,
            "reason": self.reason,
            "ready": self.ready,
        }
        if self.error:
            doc["error"] = self.error
        return doc
