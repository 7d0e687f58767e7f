"""The record contract of pipeline topics: which headers every record carries, and the kinds.

Every record is keyed by the pipeline request id, so every record of one request goes to the
same partition number of every topic (all topics have the same partition count), and therefore
to the same member of each consumer group: a join sees all of its parts in one process.

Values:

* `pipeline.<p>.inputs`, `model.<m>.inputs`: an OIP REST inference request body, the binary
  tensor extension allowed (`lm-header-length` gives the JSON header's length when it is used).
* `model.<m>.outputs`, `pipeline.<p>.outputs`: kind `data`: an OIP REST inference response body
  (again maybe binary, with `lm-header-length`); kind `skip`: an empty value, the step did not
  run (a trigger did not fire, or an inner join had a skipped input), `lm-reason` says why.
* `errors`: a JSON `ErrorRecord` (see `error_record`), kind `error`.

Deadlines are absolute (unix milliseconds): a record whose deadline has passed is dropped by
every worker, since the gateway has already answered the caller with a deadline error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import orjson

from loadmaster.kafka.bus import Record

REQUEST = "lm-request"  # the pipeline request id; also the record key
CLIENT_REQUEST = "lm-client-request"  # the caller's x-request-id, for inspect
PIPELINE = "lm-pipeline"
PIPELINE_VERSION = "lm-pipeline-version"
STEP = "lm-step"  # model topics: the step the record is for (inputs) or from (outputs)
DEADLINE = "lm-deadline"  # unix ms
GATEWAY = "lm-gateway"  # the gateway instance that waits for the answer
KIND = "lm-kind"
HEADER_LENGTH = "lm-header-length"  # Inference-Header-Content-Length of the value
REASON = "lm-reason"


class Kind(StrEnum):
    DATA = "data"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The headers every pipeline record carries, parsed."""

    request: str
    pipeline: str
    deadline_ms: int
    gateway: str
    step: str = ""
    kind: Kind = Kind.DATA
    header_length: int | None = None
    reason: str = ""
    client_request: str = ""
    pipeline_version: int = 0

    def headers(self) -> list[tuple[str, bytes]]:
        out = [
            (REQUEST, self.request.encode()),
            (PIPELINE, self.pipeline.encode()),
            (PIPELINE_VERSION, str(self.pipeline_version).encode()),
            (DEADLINE, str(self.deadline_ms).encode()),
            (GATEWAY, self.gateway.encode()),
            (KIND, self.kind.value.encode()),
        ]
        if self.step:
            out.append((STEP, self.step.encode()))
        if self.header_length is not None:
            out.append((HEADER_LENGTH, str(self.header_length).encode()))
        if self.reason:
            out.append((REASON, self.reason.encode()))
        if self.client_request:
            out.append((CLIENT_REQUEST, self.client_request.encode()))
        return out

    def expired(self, now_ms: int | None = None) -> bool:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return now >= self.deadline_ms


class BadRecord(ValueError):
    """A record without the headers pipelines need (written by something else): skipped."""


def envelope_of(record: Record) -> Envelope:
    """The envelope of `record`; raises BadRecord when a required header is missing or bad."""
    request = record.text(REQUEST)
    pipeline = record.text(PIPELINE)
    if not request or not pipeline:
        raise BadRecord(f"{record.topic}@{record.offset}: no {REQUEST} or {PIPELINE} header")
    try:
        deadline = int(record.text(DEADLINE) or "0")
        length_text = record.text(HEADER_LENGTH)
        header_length = int(length_text) if length_text else None
        kind = Kind(record.text(KIND) or Kind.DATA.value)
        version = int(record.text(PIPELINE_VERSION) or "0")
    except ValueError as exc:
        raise BadRecord(f"{record.topic}@{record.offset}: bad header: {exc}") from None
    return Envelope(
        request=request,
        pipeline=pipeline,
        deadline_ms=deadline,
        gateway=record.text(GATEWAY),
        step=record.text(STEP),
        kind=kind,
        header_length=header_length,
        reason=record.text(REASON),
        client_request=record.text(CLIENT_REQUEST),
        pipeline_version=version,
    )


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """Why a request failed: `status` is the HTTP status the gateway answers with (the model's
    own 4xx, 500 for a model failure, 503 for a model with no ready replica, 504 past the
    deadline, 422-like 400 for a join that cannot complete); `step` and `model` are empty when
    the failure is not a step's (e.g. an inner join window that expired at the output)."""

    pipeline: str
    step: str
    model: str
    status: int
    message: str

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "pipeline": self.pipeline,
                "step": self.step,
                "model": self.model,
                "status": self.status,
                "message": self.message,
            }
        )


def error_record(value: bytes) -> ErrorRecord:
    """The error record in `value`; raises BadRecord when it is not one."""
    try:
        raw = orjson.loads(value)
        return ErrorRecord(
            pipeline=str(raw["pipeline"]),
            step=str(raw.get("step", "")),
            model=str(raw.get("model", "")),
            status=int(raw["status"]),
            message=str(raw["message"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadRecord(f"not an error record: {exc}") from None
