"""Convert between OIP tensors (numpy, host memory) and torch tensors on a device.

Two traps are handled here once, for every torch runtime:

* BF16 has no numpy dtype. It arrives as raw '<u2' bits; torch reinterprets them in place with
  `view(torch.bfloat16)`, and outputs go back the same way, so no value is ever rounded.
* Request bodies are decoded with `np.frombuffer`, which gives read-only arrays. Wrapping one
  with `torch.from_numpy` warns (a model writing into its input would write into the request
  buffer), so a read-only array is copied once, straight to the device, by `torch.tensor`;
  a writable one is wrapped without a copy (and copied only if it must go to a GPU).

Outputs always leave through `.detach().cpu()` before `.numpy()`: numpy cannot see GPU memory.
"""

from __future__ import annotations

import numpy as np
import torch

from loadmaster.oip.datatypes import NUMPY_DTYPE, DataType
from loadmaster.oip.errors import BadRequest, InferenceFailed
from loadmaster.oip.types import Tensor

TORCH_DTYPE: dict[DataType, torch.dtype] = {
    DataType.BOOL: torch.bool,
    DataType.UINT8: torch.uint8,
    DataType.UINT16: torch.uint16,
    DataType.UINT32: torch.uint32,
    DataType.UINT64: torch.uint64,
    DataType.INT8: torch.int8,
    DataType.INT16: torch.int16,
    DataType.INT32: torch.int32,
    DataType.INT64: torch.int64,
    DataType.FP16: torch.float16,
    DataType.FP32: torch.float32,
    DataType.FP64: torch.float64,
    DataType.BF16: torch.bfloat16,
}
_FROM_TORCH: dict[torch.dtype, DataType] = {dtype: dt for dt, dtype in TORCH_DTYPE.items()}


def datatype_of_torch(dtype: torch.dtype) -> DataType:
    """The OIP datatype for a torch dtype; ValueError for dtypes OIP lacks (complex, fp8)."""
    try:
        return _FROM_TORCH[dtype]
    except KeyError:
        raise ValueError(f"torch dtype {dtype} has no OIP datatype") from None


def to_torch(tensor: Tensor, device: str) -> torch.Tensor:
    """The tensor's data as a torch tensor on `device` (BF16 reinterpreted, never converted)."""
    if tensor.datatype is DataType.BYTES:
        raise BadRequest(f"input {tensor.name!r}: BYTES cannot be passed to a torch model")
    array = np.ascontiguousarray(tensor.data, dtype=NUMPY_DTYPE[tensor.datatype])
    if array.flags.writeable:
        value = torch.from_numpy(array).to(device)
    else:
        # One copy straight to the device; torch.tensor copies, so it does not warn.
        value = torch.tensor(array, device=device)
    return value.view(torch.bfloat16) if tensor.datatype is DataType.BF16 else value


def from_torch(name: str, value: torch.Tensor) -> Tensor:
    """A host (numpy) OIP tensor from a torch tensor anywhere; BF16 keeps its raw bits."""
    host = value.detach().cpu()
    try:
        datatype = datatype_of_torch(host.dtype)
    except ValueError as exc:
        raise InferenceFailed(f"output {name!r}: {exc}") from None
    if datatype is DataType.BF16:
        host = host.view(torch.uint16)
    array = host.contiguous().numpy()
    return Tensor(name=name, datatype=datatype, shape=tuple(array.shape), data=array)
