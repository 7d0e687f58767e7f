"""REST/JSON inference bodies with the binary tensor extension, server side and client side.

tritonclient sends no Content-Type and uses the binary extension by default, so the layout is
decided by the `Inference-Header-Content-Length` value alone (see `parse_header_length`): with
it, the body is a JSON header of that many bytes followed by raw tensor bytes; without it, the
whole body is JSON. Binary inputs are zero-copy views of the body.

Output encoding rules: an output travels binary when the request asked for it (its own
`binary_data` parameter, or the request-level `binary_data_output` unless the output said
`binary_data: false`), and always when JSON cannot carry it (FP16, BF16, BYTES that are not
UTF-8). Binary outputs carry `parameters.binary_data_size` and follow the JSON in output order.
"""

from __future__ import annotations

from typing import Any

import orjson

from loadmaster.oip.errors import BadRequest
from loadmaster.oip.output_select import select_outputs
from loadmaster.oip.rest_fields import (
    as_object,
    get_list,
    get_params,
    get_str,
    parse_header_length,
    parse_object,
    split_body,
)
from loadmaster.oip.rest_metadata import (
    error_body,
    model_metadata_json,
    repository_index_json,
    server_metadata_json,
)
from loadmaster.oip.rest_tensors import BINARY_DATA, decode_tensors, encode_tensor
from loadmaster.oip.types import InferRequest, InferResponse, RequestedOutput

__all__ = [
    "BINARY_DATA_OUTPUT",
    "decode_infer_request",
    "decode_infer_response",
    "encode_infer_request",
    "encode_infer_response",
    "error_body",
    "model_metadata_json",
    "parse_header_length",
    "repository_index_json",
    "server_metadata_json",
]

BINARY_DATA_OUTPUT = "binary_data_output"
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def decode_infer_request(
    body: bytes, header_length: int | None, model: str, version: str = ""
) -> InferRequest:
    """The inference request in `body` (`header_length` None: all JSON) for `model`.

    `binary_data_output` stays in the request parameters (the response encoder reads it);
    each output's `binary_data` becomes `RequestedOutput.binary`.
    """
    header, binary = split_body(body, header_length)
    doc = parse_object(header, "request body")
    request_id = get_str(doc, "id", "request")
    params = get_params(doc, "request")
    output_choice = params.get(BINARY_DATA_OUTPUT)
    if output_choice is not None and not isinstance(output_choice, bool):
        raise BadRequest(f"request: parameter {BINARY_DATA_OUTPUT!r} must be a boolean")
    items = get_list(doc, "inputs", "request", required=True)
    inputs = decode_tensors(items, binary, "input")
    outputs = _requested_outputs(get_list(doc, "outputs", "request"))
    return InferRequest(
        model=model,
        inputs=inputs,
        version=version,
        id=request_id,
        outputs=outputs,
        parameters=params,
    )


def _requested_outputs(items: list[Any]) -> tuple[RequestedOutput, ...]:
    outputs: list[RequestedOutput] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        obj = as_object(item, f"requested output {index}")
        name = get_str(obj, "name", f"requested output {index}", required=True)
        label = f"requested output {name!r}"
        if name in seen:
            raise BadRequest(f"{label} appears more than once")
        seen.add(name)
        params = get_params(obj, label)
        binary = params.pop(BINARY_DATA, None)
        if binary is not None and not isinstance(binary, bool):
            raise BadRequest(f"{label}: parameter {BINARY_DATA!r} must be a boolean")
        outputs.append(RequestedOutput(name, binary, params))
    return tuple(outputs)


def encode_infer_response(
    response: InferResponse, request: InferRequest
) -> tuple[bytes, int | None]:
    """The response body and its JSON header length (None when nothing travels binary).

    Only the outputs the request named are returned, in its order; naming an output the model
    did not produce is the client's mistake (BadRequest). The id falls back to the request's.
    """
    default_binary = request.parameters.get(BINARY_DATA_OUTPUT) is True
    blobs: list[memoryview] = []
    entries = [
        encode_tensor(tensor, _wants_binary(wanted, default_binary), blobs)
        for tensor, wanted in select_outputs(response, request.outputs)
    ]
    doc: dict[str, Any] = {
        "model_name": response.model,
        "model_version": response.version,
        "id": response.id or request.id,
    }
    if response.parameters:
        doc["parameters"] = dict(response.parameters)
    doc["outputs"] = entries
    return _with_blobs(orjson.dumps(doc, option=_DUMP_OPTIONS), blobs)


def _wants_binary(wanted: RequestedOutput | None, default: bool) -> bool:
    if wanted is None or wanted.binary is None:
        return default
    return wanted.binary


def _with_blobs(header: bytes, blobs: list[memoryview]) -> tuple[bytes, int | None]:
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def encode_infer_request(req: InferRequest, binary: bool) -> tuple[bytes, int | None]:
    """A request body for an OIP server; `binary` sends every input with the binary extension
    (FP16/BF16 and non-UTF-8 BYTES go binary regardless). Whether *outputs* come back binary
    is the request's to say: `RequestedOutput.binary` or the `binary_data_output` parameter.
    """
    blobs: list[memoryview] = []
    doc: dict[str, Any] = {}
    if req.id:
        doc["id"] = req.id
    if req.parameters:
        doc["parameters"] = dict(req.parameters)
    doc["inputs"] = [encode_tensor(tensor, binary, blobs) for tensor in req.inputs]
    if req.outputs:
        doc["outputs"] = [_requested_output_json(output) for output in req.outputs]
    return _with_blobs(orjson.dumps(doc, option=_DUMP_OPTIONS), blobs)


def _requested_output_json(output: RequestedOutput) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": output.name}
    params: dict[str, Any] = dict(output.parameters)
    if output.binary is not None:
        params[BINARY_DATA] = output.binary
    if params:
        entry["parameters"] = params
    return entry


def decode_infer_response(body: bytes, header_length: int | None) -> InferResponse:
    """The response in `body`, as an OIP server sent it (BadRequest when it is malformed)."""
    header, binary = split_body(body, header_length)
    doc = parse_object(header, "response body")
    items = get_list(doc, "outputs", "response", required=True)
    return InferResponse(
        model=get_str(doc, "model_name", "response"),
        outputs=decode_tensors(items, binary, "output"),
        version=get_str(doc, "model_version", "response"),
        id=get_str(doc, "id", "response"),
        parameters=get_params(doc, "response"),
    )
