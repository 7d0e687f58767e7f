"""OIP tensor datatypes and how each maps onto numpy.

BF16 has no numpy dtype: it travels and is held as its raw 16-bit pattern (`<u2`), and the
runtime reinterprets it (torch `view(torch.bfloat16)`). BYTES is an object array of `bytes`.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np


class DataType(StrEnum):
    BOOL = "BOOL"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BF16 = "BF16"
    BYTES = "BYTES"


NUMPY_DTYPE: dict[DataType, np.dtype[np.generic]] = {
    DataType.BOOL: np.dtype(np.bool_),
    DataType.UINT8: np.dtype("<u1"),
    DataType.UINT16: np.dtype("<u2"),
    DataType.UINT32: np.dtype("<u4"),
    DataType.UINT64: np.dtype("<u8"),
    DataType.INT8: np.dtype("<i1"),
    DataType.INT16: np.dtype("<i2"),
    DataType.INT32: np.dtype("<i4"),
    DataType.INT64: np.dtype("<i8"),
    DataType.FP16: np.dtype("<f2"),
    DataType.FP32: np.dtype("<f4"),
    DataType.FP64: np.dtype("<f8"),
    DataType.BF16: np.dtype("<u2"),
    DataType.BYTES: np.dtype(np.object_),
}

# Datatypes whose values JSON cannot carry faithfully: they travel only as binary.
BINARY_ONLY: frozenset[DataType] = frozenset({DataType.FP16, DataType.BF16})

_FROM_NUMPY: dict[str, DataType] = {
    "bool": DataType.BOOL,
    "uint8": DataType.UINT8,
    "uint16": DataType.UINT16,
    "uint32": DataType.UINT32,
    "uint64": DataType.UINT64,
    "int8": DataType.INT8,
    "int16": DataType.INT16,
    "int32": DataType.INT32,
    "int64": DataType.INT64,
    "float16": DataType.FP16,
    "float32": DataType.FP32,
    "float64": DataType.FP64,
    "object": DataType.BYTES,
    "bytes": DataType.BYTES,
    "str": DataType.BYTES,
}


def parse_datatype(text: str) -> DataType:
    """The datatype named `text`, or ValueError naming the accepted ones."""
    try:
        return DataType(text.upper())
    except ValueError:
        accepted = ", ".join(d.value for d in DataType)
        raise ValueError(f"unknown datatype {text!r}; expected one of {accepted}") from None


def datatype_of(array: np.ndarray) -> DataType:
    """The OIP datatype of a numpy array (BF16 cannot be told from UINT16: say so explicitly)."""
    kind = array.dtype.kind
    if kind in ("S", "U", "O"):
        return DataType.BYTES
    try:
        return _FROM_NUMPY[array.dtype.name]
    except KeyError:
        raise ValueError(f"numpy dtype {array.dtype} has no OIP datatype") from None


def item_size(datatype: DataType) -> int | None:
    """Bytes per element on the wire, or None for the variable-length BYTES."""
    if datatype is DataType.BYTES:
        return None
    return NUMPY_DTYPE[datatype].itemsize
