"""Shapes and raw tensor bytes: the part of every transport that turns bytes into arrays.

Shapes come from clients, so a shape is only trusted after `check_shape` and only used after its
element count has been matched against the bytes actually received: `np.frombuffer` is then a
zero-copy view of the request body, and nothing is allocated that the body does not back.
Arrays built from a request are therefore read-only views; a runtime that wants to write must
copy. BF16 is held as its raw 16-bit patterns (`<u2`), see `datatypes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from loadmaster.oip.bytes_codec import decode_bytes, encode_bytes
from loadmaster.oip.datatypes import NUMPY_DTYPE, DataType, parse_datatype
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.types import Parameters, Tensor

# numpy 1.x allows 32 dimensions (2.x allows 64); no model needs more, and the cap keeps the
# message clear instead of a numpy error.
MAX_DIMS = 32


def label_of(name: str, role: str) -> str:
    """How messages name a tensor: "input 'x'" or "output 'y'"."""
    return f"{role} {name!r}"


def format_shape(shape: Sequence[int]) -> str:
    """A shape as clients wrote it: `[2, 3]` rather than the tuple `(2, 3)`."""
    return "[" + ", ".join(str(dim) for dim in shape) + "]"


def check_shape(shape: object, name: str, *, role: str = "input") -> tuple[int, ...]:
    """The shape as a tuple of non-negative ints, or BadRequest saying what is wrong with it.

    A bool is refused although Python counts it as an int: `[true, 3]` is a client bug.
    """
    label = label_of(name, role)
    if not isinstance(shape, list | tuple):
        raise BadRequest(f"{label}: shape must be a list of integers, got {type(shape).__name__}")
    if len(shape) > MAX_DIMS:
        raise BadRequest(f"{label}: shape has {len(shape)} dimensions, at most {MAX_DIMS} allowed")
    for dim in shape:
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise BadRequest(f"{label}: shape dimension {dim!r} is not an integer")
        if dim < 0:
            raise BadRequest(f"{label}: shape dimension {dim} is negative")
    return tuple(shape)


def element_count(shape: Sequence[int]) -> int:
    """Elements a shape holds (1 for a scalar `[]`), exact even for forged huge shapes."""
    return math.prod(shape)


def integer_range(datatype: DataType) -> tuple[int, int]:
    """The smallest and largest value of an integer datatype, as Python ints."""
    dtype = NUMPY_DTYPE[datatype]
    bits = 8 * dtype.itemsize
    if dtype.kind == "u":
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def datatype_from_wire(text: object, name: str, *, role: str = "input") -> DataType:
    """The datatype a client named, or BadRequest listing the accepted names."""
    label = label_of(name, role)
    if not isinstance(text, str):
        raise BadRequest(f"{label}: datatype must be a string, got {type(text).__name__}")
    try:
        return parse_datatype(text)
    except ValueError as exc:
        raise BadRequest(f"{label}: {exc}") from None


def shaped(flat: np.ndarray, shape: tuple[int, ...], label: str) -> np.ndarray:
    """`flat` viewed with `shape`, whose element count the caller already matched.

    Only shapes with a zero dimension and absurd others (`[0, 2**62]`) can still fail here:
    numpy refuses them as too big, which is the client's mistake.
    """
    try:
        return flat.reshape(shape)
    except ValueError:
        raise BadRequest(
            f"{label}: shape {format_shape(shape)} is too large to represent"
        ) from None


def tensor_from_raw(
    name: str,
    datatype: DataType,
    shape: object,
    raw: bytes | memoryview,
    parameters: Parameters | None = None,
    *,
    role: str = "input",
) -> Tensor:
    """A tensor viewing `raw` (little-endian, C order; BYTES framed), after checking its size.

    The size check comes before any array exists, so `shape=[10**12]` with 4 bytes is refused
    in microseconds.
    """
    label = label_of(name, role)
    dims = check_shape(shape, name, role=role)
    count = element_count(dims)
    if datatype is DataType.BYTES:
        flat = decode_bytes(raw, count, name, role=role)
    else:
        dtype = NUMPY_DTYPE[datatype]
        need = count * dtype.itemsize
        got = raw.nbytes if isinstance(raw, memoryview) else len(raw)
        if need != got:
            raise BadRequest(
                f"{label}: shape {format_shape(dims)} needs {need} bytes of {datatype}, got {got}"
            )
        if datatype is DataType.BOOL:
            octets = np.frombuffer(raw, dtype=np.uint8)
            if count and int(octets.max()) > 1:
                raise BadRequest(f"{label}: BOOL bytes must be 0 or 1")
            flat = octets.view(np.bool_)
        else:
            flat = np.frombuffer(raw, dtype=dtype)
    return Tensor(name, datatype, dims, shaped(flat, dims, label), dict(parameters or {}))


def raw_buffer(tensor: Tensor) -> memoryview:
    """The tensor's wire bytes, without a copy when its data already is contiguous and
    little-endian; BYTES are framed (that builds new bytes).

    A data/shape mismatch is a bug of whoever built the tensor, hence ValueError, not BadRequest.
    """
    expected = element_count(tensor.shape)
    if tensor.data.size != expected:
        raise ValueError(
            f"tensor {tensor.name!r}: shape {format_shape(tensor.shape)} holds {expected} "
            f"elements but its data has {tensor.data.size}"
        )
    if tensor.datatype is DataType.BYTES:
        return memoryview(encode_bytes(tensor.data))
    data = np.ascontiguousarray(tensor.data, dtype=NUMPY_DTYPE[tensor.datatype])
    return data.reshape(-1).view(np.uint8).data


def tensor_to_raw(tensor: Tensor) -> bytes:
    """The tensor's wire bytes as one `bytes` object (what protobuf fields need)."""
    buffer = raw_buffer(tensor)
    # BYTES framing already built a fresh `bytes`: hand that over instead of copying it again.
    return buffer.obj if isinstance(buffer.obj, bytes) else buffer.tobytes()
