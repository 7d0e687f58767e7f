"""Just enough of the protobuf wire format to route a gRPC request without decoding it.

The gateway forwards OIP gRPC payloads as the bytes it received: decoding a ModelInferRequest
and encoding it again would cost a copy of every tensor and could change what the agent sees.
To route, it needs only the model's name (field 1) and version (field 2), which
ModelInferRequest, ModelMetadataRequest and ModelReadyRequest all keep at those numbers. This
module reads those two fields, skipping every other field by its length, and can append a new
name: proto3 keeps the last value of a repeated scalar field, so appending field 1 (and an
empty field 2) renames the request without touching the tensors. Experiments rely on that.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadmaster.oip import errors

VARINT, FIXED64, LENGTH_DELIMITED, GROUP_START, GROUP_END, FIXED32 = 0, 1, 2, 3, 4, 5
MAX_VARINT_BYTES = 10
MAX_FIELD_NUMBER = (1 << 29) - 1
NAME_FIELD, VERSION_FIELD = 1, 2
_FIXED_SIZES = {FIXED64: 8, FIXED32: 4}


class WireError(errors.BadRequest):
    """The bytes are not a well-formed protobuf message (INVALID_ARGUMENT / 400)."""


@dataclass(frozen=True, slots=True)
class ModelRef:
    """The model a request names: `version` is "" when the client asked for none."""

    name: str
    version: str


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    value = 0
    for index in range(MAX_VARINT_BYTES):
        if pos + index >= len(data):
            raise WireError(f"malformed request: truncated varint at byte {pos}")
        byte = data[pos + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, pos + index + 1
    raise WireError(f"malformed request: varint longer than {MAX_VARINT_BYTES} bytes at byte {pos}")


def scan_fields(data: bytes) -> list[tuple[int, int, int, int]]:
    """Every top-level field as (number, wire type, start, end) of its value; for a
    length-delimited field start..end is its payload, for the others its raw bytes."""
    found: list[tuple[int, int, int, int]] = []
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire_type = tag >> 3, tag & 7
        if not 1 <= number <= MAX_FIELD_NUMBER:
            raise WireError(f"malformed request: field number {number} is out of range")
        if wire_type == VARINT:
            start = pos
            _, pos = _varint(data, pos)
        elif wire_type == LENGTH_DELIMITED:
            length, start = _varint(data, pos)
            pos = start + length
        elif wire_type in _FIXED_SIZES:
            start, pos = pos, pos + _FIXED_SIZES[wire_type]
        else:
            raise WireError(f"malformed request: field {number} has wire type {wire_type}")
        if pos > len(data):
            raise WireError(f"malformed request: field {number} runs past the end")
        found.append((number, wire_type, start, pos))
    return found


def _text(data: bytes, start: int, end: int, what: str) -> str:
    try:
        return data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"malformed request: the {what} is not valid UTF-8") from None


def read_model_ref(data: bytes) -> ModelRef:
    """Fields 1 and 2 as strings, the last occurrence winning as in proto3; "" when absent."""
    name = version = ""
    for number, wire_type, start, end in scan_fields(data):
        if number not in (NAME_FIELD, VERSION_FIELD):
            continue
        what = "model name" if number == NAME_FIELD else "model version"
        if wire_type != LENGTH_DELIMITED:
            raise WireError(f"malformed request: the {what} (field {number}) is not a string")
        if number == NAME_FIELD:
            name = _text(data, start, end, what)
        else:
            version = _text(data, start, end, what)
    return ModelRef(name, version)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _string_field(number: int, text: str) -> bytes:
    payload = text.encode("utf-8")
    return _encode_varint(number << 3 | LENGTH_DELIMITED) + _encode_varint(len(payload)) + payload


def rename(data: bytes, name: str) -> bytes:
    """`data` asking for model `name`, any version: a new field 1 and an empty field 2 are
    appended, which a proto3 parser reads in place of the ones already there."""
    return data + _string_field(NAME_FIELD, name) + _string_field(VERSION_FIELD, "")
