"""Reading untrusted REST JSON: splitting the body, parsing it, and typed field access.

Every accessor raises BadRequest naming the object and the field, so the codecs above it read
like the protocol and no KeyError or TypeError can leak out as a server error.
"""

from __future__ import annotations

from typing import Any

import orjson

from loadmaster.oip.errors import BadRequest
from loadmaster.oip.types import ParamValue

JsonObject = dict[str, Any]

# Parameters must fit the gRPC InferParameter (int64 or uint64) so a gateway can relay them.
_INT_MIN = -(2**63)
_INT_END = 2**64


def parse_header_length(value: str | None) -> int | None:
    """The `Inference-Header-Content-Length` header as an int (None when absent)."""
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise BadRequest(
            f"Inference-Header-Content-Length must be a non-negative integer, got {value!r}"
        )
    return int(text)


def split_body(body: bytes, header_length: int | None) -> tuple[memoryview, memoryview]:
    """The JSON header and the binary section that follows it, as views of `body`."""
    view = memoryview(body)
    if header_length is None:
        return view, view[len(view) :]
    if header_length < 0 or header_length > len(view):
        raise BadRequest(
            f"Inference-Header-Content-Length {header_length} is beyond the {len(view)}-byte body"
        )
    return view[:header_length], view[header_length:]


def parse_object(text: bytes | memoryview, what: str) -> JsonObject:
    """The JSON object in `text`; BadRequest when it is not JSON or not an object."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    return as_object(doc, what)


def as_object(value: object, what: str) -> JsonObject:
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, got {_json_type(value)}")
    return value


def get_str(obj: JsonObject, key: str, what: str, *, required: bool = False) -> str:
    """`obj[key]` as a string ("" when absent and not required)."""
    if key not in obj:
        if required:
            raise BadRequest(f"{what} has no {key!r}")
        return ""
    value = obj[key]
    if not isinstance(value, str):
        raise BadRequest(f"{what}: {key!r} must be a string, got {_json_type(value)}")
    return value


def get_list(obj: JsonObject, key: str, what: str, *, required: bool = False) -> list[Any]:
    """`obj[key]` as a list ([] when absent and not required)."""
    if key not in obj:
        if required:
            raise BadRequest(f"{what} has no {key!r}")
        return []
    value = obj[key]
    if not isinstance(value, list):
        raise BadRequest(f"{what}: {key!r} must be a list, got {_json_type(value)}")
    return value


def get_params(obj: JsonObject, what: str) -> dict[str, ParamValue]:
    """`obj["parameters"]` as a fresh dict of bool/int/float/str values ({} when absent).

    Nested objects, lists and null are refused: the records type parameters as scalars, and
    gRPC could not carry anything else.
    """
    raw = obj.get("parameters")
    if raw is None and "parameters" not in obj:
        return {}
    params = as_object(raw, f"{what}: 'parameters'")
    for key, value in params.items():
        if isinstance(value, bool | str | float):
            continue
        if isinstance(value, int):
            if not _INT_MIN <= value < _INT_END:
                raise BadRequest(f"{what}: parameter {key!r} value {value} is out of range")
            continue
        raise BadRequest(
            f"{what}: parameter {key!r} must be a bool, number or string, got {_json_type(value)}"
        )
    return dict(params)


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, as the client would think of it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
