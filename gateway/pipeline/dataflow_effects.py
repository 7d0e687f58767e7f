"""The records a dataflow decision produces, built as plain values for the worker to send.

Each decision of a target becomes exactly one record, always keyed by the pipeline request id
(so every record of a request stays on one partition number) and carrying the request's
envelope, so the model worker, the next join and the gateway all know whose it is:

* a step fires: its request body to `model.<model>.inputs`, `lm-step` = the step;
* a step is skipped: an empty `skip` record to `model.<model>.outputs`, `lm-step` = the step,
  `lm-reason` = why, so the steps after it (and the output) see the skip like an answer;
* the output fires: the pipeline's answer to `pipeline.<p>.outputs`;
* the output is skipped, or a join fails: an `ErrorRecord` to the errors topic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.pipeline.graph import Target
from gateway.pipeline.step_io import BAD_REQUEST, pipeline_response_body, step_request_body
from loadmaster.kafka.records import Envelope, ErrorRecord, Kind
from loadmaster.kafka.topics import Topics
from loadmaster.oip.types import Tensor

MAX_REASON = 2000  # characters of lm-reason: a chain of skips must not make huge headers


@dataclass(frozen=True, slots=True)
class Emit:
    """One record to produce; `deadline_ms` says until when anyone still wants it."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    deadline_ms: int


class Effects:
    """Builds the records of a pipeline's decisions; `base` is the request's envelope."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    def _emit(self, topic: str, value: bytes, envelope: Envelope) -> Emit:
        return Emit(
            topic=topic,
            key=envelope.request.encode(),
            value=value,
            headers=tuple(envelope.headers()),
            deadline_ms=envelope.deadline_ms,
        )

    def fired(self, base: Envelope, target: Target, tensors: Sequence[Tensor]) -> Emit:
        if target.is_output:
            body, length = pipeline_response_body(
                base.pipeline, base.client_request or base.request, tensors
            )
            envelope = _with(base, step="", kind=Kind.DATA, header_length=length)
            return self._emit(self.topics.pipeline_outputs(base.pipeline), body, envelope)
        body, length = step_request_body(target.model, base.request, tensors)
        envelope = _with(base, step=target.name, kind=Kind.DATA, header_length=length)
        return self._emit(self.topics.model_inputs(target.model), body, envelope)

    def skipped(self, base: Envelope, target: Target, reason: str) -> Emit:
        """A skipped step's skip record; a skipped output is the request's 400."""
        if target.is_output:
            message = f"pipeline {base.pipeline!r} produced no output: {reason}"
            return self.failed(base, target, BAD_REQUEST, message)
        why = f"{target.label} did not run: {reason}"[:MAX_REASON]
        envelope = _with(base, step=target.name, kind=Kind.SKIP, reason=why)
        return self._emit(self.topics.model_outputs(target.model), b"", envelope)

    def failed(self, base: Envelope, target: Target | None, status: int, message: str) -> Emit:
        """An error record; `target` None (or the output) leaves step and model empty."""
        step = target.name if target is not None else ""
        model = target.model if target is not None else ""
        record = ErrorRecord(base.pipeline, step, model, status, message)
        envelope = _with(base, step=step, kind=Kind.ERROR)
        return self._emit(self.topics.errors, record.to_json(), envelope)


def _with(
    base: Envelope,
    *,
    step: str,
    kind: Kind,
    header_length: int | None = None,
    reason: str = "",
) -> Envelope:
    return dataclasses.replace(
        base, step=step, kind=kind, header_length=header_length, reason=reason
    )
