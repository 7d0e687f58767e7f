"""gRPC typed tensor contents (`InferTensorContents`) to and from numpy arrays.

Typed contents are the slow, optional path: clients such as tritonclient send raw bytes, and we
always answer raw. Each datatype has exactly one field (small ints share the 32-bit ones, so
their range is checked here); FP16 and BF16 have none and must travel raw. The value count is
matched against the shape before an array exists.
"""

from __future__ import annotations

import numpy as np

from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.oip.bytes_codec import as_bytes
from loadmaster.oip.datatypes import BINARY_ONLY, NUMPY_DTYPE, DataType
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.tensor_codec import element_count, format_shape, integer_range, shaped
from loadmaster.oip.types import Tensor

FIELD_OF: dict[DataType, str] = {
    DataType.BOOL: "bool_contents",
    DataType.INT8: "int_contents",
    DataType.INT16: "int_contents",
    DataType.INT32: "int_contents",
    DataType.INT64: "int64_contents",
    DataType.UINT8: "uint_contents",
    DataType.UINT16: "uint_contents",
    DataType.UINT32: "uint_contents",
    DataType.UINT64: "uint64_contents",
    DataType.FP32: "fp32_contents",
    DataType.FP64: "fp64_contents",
    DataType.BYTES: "bytes_contents",
}

# The numpy dtype each numeric field's values have on the wire.
_FIELD_DTYPE: dict[str, np.dtype[np.generic]] = {
    "bool_contents": np.dtype(np.bool_),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
}
_ALL_FIELDS = (*_FIELD_DTYPE, "bytes_contents")


def has_contents(contents: pb.InferTensorContents) -> bool:
    """Whether any typed field holds a value."""
    return any(len(getattr(contents, field)) for field in _ALL_FIELDS)


def array_from_contents(
    contents: pb.InferTensorContents, datatype: DataType, shape: tuple[int, ...], label: str
) -> np.ndarray:
    """The typed values of one tensor as an array of `shape`."""
    if datatype in BINARY_ONLY:
        raise BadRequest(f"{label}: {datatype} travels only as raw contents, not typed contents")
    field = FIELD_OF[datatype]
    for other in _ALL_FIELDS:
        if other != field and len(getattr(contents, other)):
            raise BadRequest(f"{label}: {datatype} values belong in {field}, found {other}")
    values = getattr(contents, field)
    count = element_count(shape)
    if len(values) != count:
        raise BadRequest(
            f"{label}: shape {format_shape(shape)} needs {count} values in {field}, "
            f"got {len(values)}"
        )
    if datatype is DataType.BYTES:
        flat = np.empty(count, dtype=np.object_)
        flat[:] = list(values)
        return shaped(flat, shape, label)
    wide = np.fromiter(values, dtype=_FIELD_DTYPE[field], count=count)
    dtype = NUMPY_DTYPE[datatype]
    if dtype.itemsize < wide.dtype.itemsize and count:
        smallest, largest = integer_range(datatype)
        low, high = int(wide.min()), int(wide.max())
        if low < smallest or high > largest:
            bad = low if low < smallest else high
            raise BadRequest(f"{label}: value {bad} is out of range for {datatype}")
    return shaped(wide.astype(dtype, copy=False), shape, label)


def fill_contents(contents: pb.InferTensorContents, tensor: Tensor) -> None:
    """Write the tensor's values into their typed field, for peers that cannot read raw.

    FP16/BF16 have no typed field: asking for one is a caller bug (ValueError).
    """
    field = FIELD_OF.get(tensor.datatype)
    if field is None:
        raise ValueError(f"tensor {tensor.name!r}: {tensor.datatype} has no typed contents field")
    flat = np.asarray(tensor.data).reshape(-1)
    target = getattr(contents, field)
    if tensor.datatype is DataType.BYTES:
        target.extend([as_bytes(element) for element in flat.tolist()])
    else:
        target.extend(flat.astype(_FIELD_DTYPE[field], copy=False).tolist())
