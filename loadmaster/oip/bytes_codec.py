"""The OIP BYTES framing: each element is a 4-byte little-endian length, then its bytes.

Both transports carry BYTES tensors this way (REST binary extension and gRPC raw contents), so
the framing lives here once. Decoding is the one place a client's byte counts steer our loops:
every length is checked against what the buffer still holds before anything is sliced, and the
element count is checked against the smallest buffer that could hold it before the result array
exists, so a forged count cannot make us allocate memory the request does not back.
"""

from __future__ import annotations

import struct

import numpy as np

from loadmaster.oip.errors import BadRequest

_LENGTH = struct.Struct("<I")
_PREFIX = _LENGTH.size


def as_bytes(element: object) -> bytes:
    """One BYTES element as raw bytes: `str` is UTF-8 encoded, bytes-likes are taken as they are.

    Anything else is a programming error of whoever built the tensor (TypeError), not a client
    mistake, because every decoder here already produces `bytes`.
    """
    if isinstance(element, bytes):
        return element
    if isinstance(element, str):
        return element.encode("utf-8")
    if isinstance(element, bytearray | memoryview):
        return bytes(element)
    raise TypeError(f"a BYTES element must be bytes or str, got {type(element).__name__}")


def encode_bytes(array: np.ndarray) -> bytes:
    """Serialize every element of `array`, in C order, with its 4-byte length prefix."""
    pack = _LENGTH.pack
    parts: list[bytes] = []
    for element in np.asarray(array).ravel().tolist():
        data = as_bytes(element)
        parts.append(pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_bytes(
    buf: bytes | memoryview, count: int, name: str, *, role: str = "input"
) -> np.ndarray:
    """The `count` elements framed in `buf`, as a 1-D object array of `bytes`.

    BadRequest when the framing is truncated, a length runs past the buffer, elements are
    missing, or bytes are left over. `role` only words the message ("input" or "output").
    """
    label = f"{role} {name!r}"
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    size = len(view)
    if count < 0:
        raise BadRequest(f"{label}: negative BYTES element count {count}")
    if count * _PREFIX > size:
        raise BadRequest(
            f"{label}: {count} BYTES elements need at least {count * _PREFIX} bytes, got {size}"
        )
    out = np.empty(count, dtype=np.object_)
    unpack = _LENGTH.unpack_from
    offset = 0
    for index in range(count):
        if offset + _PREFIX > size:
            raise BadRequest(
                f"{label}: BYTES element {index} of {count} has no length prefix "
                f"(data ends at byte {size})"
            )
        (length,) = unpack(view, offset)
        offset += _PREFIX
        end = offset + length
        if end > size:
            raise BadRequest(
                f"{label}: BYTES element {index} claims {length} bytes but only "
                f"{size - offset} remain"
            )
        out[index] = view[offset:end].tobytes()
        offset = end
    if offset != size:
        raise BadRequest(f"{label}: {size - offset} bytes left over after {count} BYTES elements")
    return out
