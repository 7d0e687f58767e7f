"""Tensors in and out of the dataflow: decode what arrives, select and rename what a target
takes, and encode a step's request or the pipeline's answer.

Everything travels as a REST OIP body with the binary tensor extension, so tensors stay numpy
arrays from the caller's request to the answer and are never turned into JSON lists (a step
request also asks for binary outputs, so the model's answer comes back the same way). A
failure here is the request's, not the worker's: it raises `StepIOError` with the status the
gateway answers with and a message that says which reference or body is wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from gateway.pipeline.graph import Target
from gateway.pipeline.join import Arrival
from loadmaster.oip.errors import OIPError
from loadmaster.oip.rest_codec import (
    BINARY_DATA_OUTPUT,
    decode_infer_request,
    decode_infer_response,
    encode_infer_request,
    encode_infer_response,
)
from loadmaster.oip.types import InferRequest, InferResponse, Tensor
from loadmaster.resources.pipeline_refs import PIPELINE, TensorRef

BAD_REQUEST = 400
MODEL_FAILED = 500
_BINARY_OUT = {BINARY_DATA_OUTPUT: True}


class StepIOError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def pipeline_input(body: bytes, header_length: int | None, pipeline: str) -> Arrival:
    """The pipeline's request as the PIPELINE source; a malformed body is the caller's 400."""
    try:
        request = decode_infer_request(body, header_length, pipeline)
    except OIPError as exc:
        raise StepIOError(
            BAD_REQUEST, f"the pipeline request is not a valid inference request: {exc.message}"
        ) from None
    return Arrival(PIPELINE, request.inputs)


def step_output(body: bytes, header_length: int | None, step: str) -> Arrival:
    """Step `step`'s answer; a malformed body is a model failure (500)."""
    try:
        response = decode_infer_response(body, header_length)
    except OIPError as exc:
        raise StepIOError(
            MODEL_FAILED,
            f"step {step!r} answered with a body that is not an inference response: {exc.message}",
        ) from None
    return Arrival(step, response.outputs)


def step_skipped(step: str, reason: str) -> Arrival:
    return Arrival(step, None, reason)


def select_tensors(target: Target, arrivals: Sequence[Arrival]) -> tuple[Tensor, ...]:
    """The tensors `target` takes from `arrivals`, in the order of its input references,
    renamed by its tensor map. References to sources not among `arrivals` (an outer or any
    join that fired without them) are passed over. Raises StepIOError (400) for a referenced
    tensor that did not arrive, or for two tensors that would have the same name."""
    by_source = {arrival.source: arrival for arrival in arrivals}
    chosen: list[Tensor] = []
    origin: dict[str, str] = {}  # final name -> the reference text it came from
    for ref in target.inputs:
        arrival = by_source.get(ref.source)
        if arrival is None:
            continue
        for tensor in _taken(target, ref, arrival):
            name = target.renamed(ref, tensor.name)
            came_from = TensorRef(ref.source, tensor.name).text
            if name in origin:
                raise StepIOError(
                    BAD_REQUEST,
                    f"{target.label}: two inputs are named {name!r}: {origin[name]!r} and "
                    f"{came_from!r}; rename one with a tensorMap",
                )
            origin[name] = came_from
            chosen.append(tensor if name == tensor.name else dataclasses.replace(tensor, name=name))
    return tuple(chosen)


def _taken(target: Target, ref: TensorRef, arrival: Arrival) -> tuple[Tensor, ...]:
    if not ref.tensor:
        return arrival.tensors or ()
    tensor = arrival.tensor(ref.tensor)
    if tensor is None:
        raise StepIOError(
            BAD_REQUEST,
            f"{target.label}: input {ref.text!r} did not arrive: {arrival.what_happened()}",
        )
    return (tensor,)


def step_request_body(model: str, request_id: str, tensors: Sequence[Tensor]) -> tuple[bytes, int]:
    """A binary OIP request for `model` that asks for binary outputs; (body, header length)."""
    request = InferRequest(
        model=model, inputs=tuple(tensors), id=request_id, parameters=_BINARY_OUT
    )
    body, header_length = encode_infer_request(request, binary=True)
    return body, len(body) if header_length is None else header_length


def pipeline_response_body(
    pipeline: str, client_request: str, tensors: Sequence[Tensor]
) -> tuple[bytes, int]:
    """The pipeline's answer (model_name = the pipeline, id = the caller's request id), every
    output binary; (body, header length)."""
    response = InferResponse(model=pipeline, outputs=tuple(tensors), id=client_request)
    asked = InferRequest(model=pipeline, inputs=(), parameters=_BINARY_OUT)
    body, header_length = encode_infer_response(response, asked)
    return body, len(body) if header_length is None else header_length
