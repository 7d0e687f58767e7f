"""REST tensor lists with the binary tensor extension, shared by requests and responses.

A tensor either carries JSON `data` or a `binary_data_size` parameter that claims the next
bytes of the binary section after the JSON header, in list order. The whole section must be
claimed exactly: leftover bytes mean the client and we disagree on the layout, and guessing
would hand a model garbage. The extension's bookkeeping parameters (`binary_data_size`,
`binary_data`) are consumed here and never reach the tensors.
"""

from __future__ import annotations

from typing import Any

from loadmaster.oip.errors import BadRequest
from loadmaster.oip.json_data import array_from_json, json_data_of
from loadmaster.oip.rest_fields import as_object, get_params, get_str
from loadmaster.oip.tensor_codec import (
    check_shape,
    datatype_from_wire,
    label_of,
    raw_buffer,
    tensor_from_raw,
)
from loadmaster.oip.types import Tensor

BINARY_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"


def decode_tensors(items: list[Any], binary: memoryview, role: str) -> tuple[Tensor, ...]:
    """The tensors described by the JSON `items`, binary ones viewing slices of `binary`."""
    tensors: list[Tensor] = []
    seen: set[str] = set()
    offset = 0
    for index, item in enumerate(items):
        obj = as_object(item, f"{role} {index}")
        name = get_str(obj, "name", f"{role} {index}", required=True)
        label = label_of(name, role)
        if name in seen:
            raise BadRequest(f"{label} appears more than once")
        seen.add(name)
        if "datatype" not in obj:
            raise BadRequest(f"{label} has no 'datatype'")
        if "shape" not in obj:
            raise BadRequest(f"{label} has no 'shape'")
        datatype = datatype_from_wire(obj["datatype"], name, role=role)
        shape = check_shape(obj["shape"], name, role=role)
        params = get_params(obj, label)
        size = params.pop(BINARY_SIZE, None)
        params.pop(BINARY_DATA, None)
        if size is None:
            if "data" not in obj:
                raise BadRequest(f"{label} has neither 'data' nor a {BINARY_SIZE} parameter")
            data = array_from_json(obj["data"], datatype, shape, label)
            tensors.append(Tensor(name, datatype, shape, data, params))
            continue
        if "data" in obj:
            raise BadRequest(f"{label} has both 'data' and a {BINARY_SIZE} parameter")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"{label}: {BINARY_SIZE} must be a non-negative integer, got {size!r}")
        end = offset + size
        if end > len(binary):
            raise BadRequest(
                f"{label}: {BINARY_SIZE} {size} runs past the binary data "
                f"({len(binary) - offset} bytes left)"
            )
        tensors.append(
            tensor_from_raw(name, datatype, shape, binary[offset:end], params, role=role)
        )
        offset = end
    if offset != len(binary):
        raise BadRequest(
            f"{len(binary) - offset} bytes of binary data follow the JSON header "
            f"but no {role} claims them"
        )
    return tuple(tensors)


def encode_tensor(tensor: Tensor, binary: bool, blobs: list[memoryview]) -> dict[str, Any]:
    """The JSON entry of `tensor`; when it travels binary (asked for, or JSON cannot carry it)
    its bytes are appended to `blobs` and the entry carries `binary_data_size` instead of data.
    """
    entry: dict[str, Any] = {
        "name": tensor.name,
        "datatype": tensor.datatype.value,
        "shape": list(tensor.shape),
    }
    params = dict(tensor.parameters)
    data = None if binary else json_data_of(tensor.data, tensor.datatype)
    if data is None:
        blob = raw_buffer(tensor)
        blobs.append(blob)
        params[BINARY_SIZE] = blob.nbytes
    if params:
        entry["parameters"] = params
    if data is not None:
        entry["data"] = data
    return entry
