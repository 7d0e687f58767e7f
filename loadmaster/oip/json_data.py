"""Tensor data as JSON lists (the REST `data` field), both ways, without per-element loops.

Numbers go through `np.asarray` once, which also tells us what the client actually sent: the
inferred dtype kind is checked against the declared datatype (a string or a float in INT32 data
is refused rather than silently parsed or truncated), and integer ranges are checked with one
min/max pass. Only BYTES, which are Python strings by nature, are walked element by element.
A flat list's length is matched against the shape before any array exists; nested lists are
already in memory, so their array costs no more than the request itself.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from loadmaster.oip.bytes_codec import as_bytes
from loadmaster.oip.datatypes import BINARY_ONLY, NUMPY_DTYPE, DataType
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.tensor_codec import element_count, format_shape, integer_range, shaped

_KIND_WORDS = {
    "b": "booleans",
    "i": "integers",
    "u": "integers",
    "f": "non-integer numbers",
    "U": "strings",
    "O": "nulls or mixed values",
}
_INTEGER_TYPES = frozenset(
    {
        DataType.INT8,
        DataType.INT16,
        DataType.INT32,
        DataType.INT64,
        DataType.UINT8,
        DataType.UINT16,
        DataType.UINT32,
        DataType.UINT64,
    }
)
_RAGGED = "data is ragged (nested lists of unequal length, or lists mixed with values)"


def array_from_json(
    data: object, datatype: DataType, shape: tuple[int, ...], label: str
) -> np.ndarray:
    """The JSON `data` (flat or nested, row-major) as an array of `shape` and `datatype`."""
    if datatype in BINARY_ONLY:
        raise BadRequest(
            f"{label}: {datatype} travels only as binary (binary_data_size), not as JSON data"
        )
    if not isinstance(data, list):
        raise BadRequest(f"{label}: data must be a list, got {type(data).__name__}")
    count = element_count(shape)
    nested = bool(data) and isinstance(data[0], list)
    if not nested and len(data) != count:
        raise BadRequest(
            f"{label}: shape {format_shape(shape)} needs {count} elements, got {len(data)}"
        )
    if datatype is DataType.BYTES:
        flat = _bytes_from_json(data, label)
    else:
        flat = _numbers_from_json(data, datatype, label)
    if flat.size != count:
        raise BadRequest(
            f"{label}: shape {format_shape(shape)} needs {count} elements, got {flat.size}"
        )
    return shaped(flat, shape, label)


def _numbers_from_json(data: list[object], datatype: DataType, label: str) -> np.ndarray:
    dtype = NUMPY_DTYPE[datatype]
    try:
        found = np.asarray(data)
    except (ValueError, TypeError, OverflowError):
        raise BadRequest(f"{label}: {_RAGGED}") from None
    found = found.reshape(-1)
    if found.size == 0:
        return np.empty(0, dtype=dtype)
    kind = found.dtype.kind
    if datatype is DataType.BOOL:
        if kind != "b":
            raise BadRequest(f"{label}: BOOL data must be true/false, got {_words(kind)}")
        return found
    if datatype in _INTEGER_TYPES:
        if kind not in "iu":
            if datatype is DataType.UINT64 and kind in "fO":
                return _big_unsigned(data, label)
            raise BadRequest(f"{label}: {datatype} data must be integers, got {_words(kind)}")
        smallest, largest = integer_range(datatype)
        low, high = int(found.min()), int(found.max())
        if low < smallest or high > largest:
            bad = low if low < smallest else high
            raise BadRequest(f"{label}: value {bad} is out of range for {datatype}")
        return found.astype(dtype, copy=False)
    if kind not in "iuf":
        raise BadRequest(f"{label}: {datatype} data must be numbers, got {_words(kind)}")
    if kind == "f" and datatype is DataType.FP32:
        biggest = float(np.abs(found).max())
        if biggest > float(np.finfo(np.float32).max):
            raise BadRequest(f"{label}: value {biggest} is out of range for FP32")
    return found.astype(dtype, copy=False)


def _big_unsigned(data: list[object], label: str) -> np.ndarray:
    """UINT64 data mixing values at or above 2**63 with smaller ones: numpy infers float64 for
    the mix, which would lose precision, so check these (rare) lists value by value."""
    try:
        values = np.asarray(data, dtype=np.object_).reshape(-1)
    except ValueError:
        raise BadRequest(f"{label}: {_RAGGED}") from None
    for value in values.tolist():
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequest(f"{label}: UINT64 data must be integers, got {value!r}")
        if not 0 <= value < 2**64:
            raise BadRequest(f"{label}: value {value} is out of range for UINT64")
    return values.astype(np.uint64)


def _bytes_from_json(data: list[object], label: str) -> np.ndarray:
    """Strings (flat or nested) as an object array of their UTF-8 bytes.

    Not `np.asarray`: its fixed-width str dtype would drop trailing NUL characters.
    """
    level = data
    while level and isinstance(level[0], list):
        width = len(level[0])
        for item in level:
            if not isinstance(item, list) or len(item) != width:
                raise BadRequest(f"{label}: {_RAGGED}")
        level = list(chain.from_iterable(item for item in level if isinstance(item, list)))
    try:
        encoded = [text.encode("utf-8") for text in level if isinstance(text, str)]
    except UnicodeError:
        raise BadRequest(f"{label}: BYTES data must be valid unicode strings") from None
    if len(encoded) != len(level):
        wrong = next(value for value in level if not isinstance(value, str))
        if isinstance(wrong, list):
            raise BadRequest(f"{label}: {_RAGGED}")
        raise BadRequest(f"{label}: BYTES data must be strings, got {type(wrong).__name__}")
    out = np.empty(len(encoded), dtype=np.object_)
    out[:] = encoded
    return out


def json_data_of(data: np.ndarray, datatype: DataType) -> np.ndarray | list[str] | None:
    """The flat JSON-able `data` of a tensor, or None when JSON cannot carry it faithfully
    (FP16/BF16, BYTES that are not UTF-8, floats holding inf or NaN, which JSON has no words
    for): the caller then sends it binary.

    Numbers come back as a flat native-endian numpy array for orjson's OPT_SERIALIZE_NUMPY.
    """
    if datatype in BINARY_ONLY:
        return None
    if datatype is DataType.BYTES:
        texts: list[str] = []
        try:
            for element in np.asarray(data).reshape(-1).tolist():
                texts.append(element if isinstance(element, str) else as_bytes(element).decode())
        except UnicodeDecodeError:
            return None
        return texts
    dtype = NUMPY_DTYPE[datatype].newbyteorder("=")
    flat = np.ascontiguousarray(data, dtype=dtype).reshape(-1)
    if dtype.kind == "f" and not np.isfinite(flat).all():
        return None
    return flat


def _words(kind: str) -> str:
    return _KIND_WORDS.get(kind, f"values of numpy kind {kind!r}")
