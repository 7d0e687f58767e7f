"""Tensors the third-party client checks send, and one exact, JSON-able way to describe them.

Shared by the client scripts (which send these values and describe what came back) and by the
pytest side (which describes the same values and compares). Only numpy is imported here: the
pytest process must never import tritonclient or the KServe SDK (brief §7), and this module is
the one piece of the scripts it does import.

`describe` is exact: floats become `float.hex()` strings (so -0.0, subnormals, infinities and
NaN compare as themselves), BF16 becomes its 16-bit patterns, BYTES becomes `repr(bytes)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Every OIP datatype, in the order of the spec's table.
DATATYPES = (
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BF16",
    "BYTES",
)
# JSON cannot carry these; they travel only with the binary extension (brief §5).
BINARY_ONLY = ("FP16", "BF16")
SHAPE = (2, 3)

# BF16 patterns: +0, -0, 1.0, a subnormal, +inf, a quiet NaN with a payload bit.
_BF16_BITS = (0x0000, 0x8000, 0x3F80, 0x0001, 0x7F80, 0x7FC1)

_INTEGER_DTYPES: dict[str, type[np.integer[Any]]] = {
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
}
_FLOAT_DTYPES: dict[str, type[np.floating[Any]]] = {
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}


def echo_model_name(datatype: str) -> str:
    """The echo model (input `x` → output `x`, shape [-1, -1]) serving one datatype."""
    return f"echo-{datatype.lower()}"


def sample(datatype: str, *, json_safe: bool = False, utf8_only: bool = False) -> np.ndarray:
    """A [2, 3] tensor of `datatype` with the values a codec most likely gets wrong.

    `json_safe` leaves out what JSON cannot hold (infinities, NaN, non-UTF-8 BYTES);
    `utf8_only` keeps BYTES valid UTF-8 (for clients that decode BYTES into str).
    BF16 is its raw bit patterns as uint16 (numpy has no bfloat16).
    """
    if datatype == "BOOL":
        return np.array([[True, False, True], [False, False, True]], dtype=np.bool_)
    if datatype in _INTEGER_DTYPES:
        integer = _INTEGER_DTYPES[datatype]
        info = np.iinfo(integer)
        low, high = int(info.min), int(info.max)
        if low == 0:  # around the top bit too: 127/128, ..., 2**63 - 1 / 2**63
            values = [0, 1, high // 2, high // 2 + 1, high - 1, high]
        else:
            values = [low, low + 1, -1, 0, 1, high]
        return np.array(values, dtype=integer).reshape(SHAPE)
    if datatype in _FLOAT_DTYPES:
        floating = _FLOAT_DTYPES[datatype]
        finfo = np.finfo(floating)
        numbers = [-0.0, float(finfo.smallest_subnormal), float(finfo.max)]
        if json_safe:
            numbers += [float(finfo.tiny), 0.1, -1 / 3]
        else:
            numbers += [float("inf"), float("-inf"), float("nan")]
        return np.array(numbers, dtype=floating).reshape(SHAPE)
    if datatype == "BF16":
        return np.array(_BF16_BITS, dtype=np.uint16).reshape(SHAPE)
    if datatype == "BYTES":
        items = [b"", "héllo wörld".encode(), "日本語テキスト".encode(), b"nul\x00inside"]
        items += [b"", "emoji \U0001f600".encode()]
        if not (json_safe or utf8_only):
            items[3] = b"\xff\xfe not utf-8 \x00"
        array = np.empty(len(items), dtype=np.object_)
        array[:] = items
        return array.reshape(SHAPE)
    raise ValueError(f"unknown datatype {datatype!r}")


def describe(array: Any, datatype: str) -> dict[str, Any]:
    """`array` as exact JSON: its shape and canonical values (see the module docstring)."""
    data = np.asarray(array)
    shape = [int(dim) for dim in data.shape]
    flat = data.reshape(-1)
    values: list[Any]
    if datatype == "BYTES":
        values = [repr(_as_bytes(item)) for item in flat.tolist()]
    elif datatype == "BF16":
        values = [int(bits) for bits in flat.view(np.uint16).tolist()]
    elif datatype in _FLOAT_DTYPES:
        values = [float(value).hex() for value in flat.astype(np.float64).tolist()]
    elif datatype == "BOOL":
        values = [bool(value) for value in flat.tolist()]
    else:
        values = [int(value) for value in flat.tolist()]
    return {"shape": shape, "values": values}


def _as_bytes(item: object) -> bytes:
    """A BYTES element as bytes: clients hand back JSON strings as `str`, binary as `bytes`."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    raise TypeError(f"a BYTES element came back as {type(item).__name__}: {item!r}")
