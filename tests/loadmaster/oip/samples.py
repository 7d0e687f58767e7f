"""Sample tensors of every OIP datatype, with the edge values each codec must keep intact."""

from __future__ import annotations

import numpy as np

from loadmaster.oip.datatypes import BINARY_ONLY, NUMPY_DTYPE, DataType
from loadmaster.oip.types import Tensor


def _bytes_array(values: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=np.object_)
    out[:] = values
    return out.reshape(shape)


SHAPE = (2, 3)

# Every value is chosen to break a sloppy codec: extremes, signs, NaN-free fractions that FP32
# holds exactly, empty and multi-byte strings.
SAMPLES: dict[DataType, np.ndarray] = {
    DataType.BOOL: np.array([[True, False, True], [False, False, True]]),
    DataType.UINT8: np.array([[0, 1, 255], [7, 128, 254]], dtype="<u1"),
    DataType.UINT16: np.array([[0, 1, 65535], [7, 300, 40000]], dtype="<u2"),
    DataType.UINT32: np.array([[0, 1, 2**32 - 1], [7, 70000, 2**31]], dtype="<u4"),
    DataType.UINT64: np.array([[0, 1, 2**64 - 1], [7, 2**63, 2**40]], dtype="<u8"),
    DataType.INT8: np.array([[-128, -1, 127], [0, 5, -7]], dtype="<i1"),
    DataType.INT16: np.array([[-32768, -1, 32767], [0, 300, -7]], dtype="<i2"),
    DataType.INT32: np.array([[-(2**31), -1, 2**31 - 1], [0, 70000, -7]], dtype="<i4"),
    DataType.INT64: np.array([[-(2**63), -1, 2**63 - 1], [0, 2**40, -7]], dtype="<i8"),
    DataType.FP16: np.array([[0.5, -1.25, 65504.0], [0.0, 3.0, -0.125]], dtype="<f2"),
    DataType.FP32: np.array([[0.5, -1.25, 3.4e38], [0.0, 1e-7, -0.1]], dtype="<f4"),
    DataType.FP64: np.array([[0.5, -1.25, 1.7e308], [0.0, 1e-300, -0.1]], dtype="<f8"),
    # BF16 bit patterns: 1.0, -2.0, +inf, 0, 0.5, the largest finite value.
    DataType.BF16: np.array([[0x3F80, 0xC000, 0x7F80], [0x0000, 0x3F00, 0x7F7F]], dtype="<u2"),
    DataType.BYTES: _bytes_array(
        [b"", b"a", "h\u00e9llo".encode(), b"x" * 300, b"\x00", b"z"], SHAPE
    ),
}

# BYTES that are not UTF-8: JSON cannot carry them, so they must go binary.
NON_UTF8 = _bytes_array([b"\xff\xfe", b"ok", b"", b"\x80", b"a\x00b", b"\xc3"], SHAPE)

ALL_TYPES = list(SAMPLES)
JSON_TYPES = [dt for dt in SAMPLES if dt not in BINARY_ONLY]


def sample(datatype: DataType, name: str = "x") -> Tensor:
    return Tensor(name, datatype, SHAPE, SAMPLES[datatype])


def assert_same(got: Tensor, want: Tensor) -> None:
    """Same name, datatype, shape, dtype and values (bit-exact, element by element)."""
    assert got.name == want.name
    assert got.datatype is want.datatype
    assert got.shape == want.shape
    assert got.data.shape == want.shape
    if want.datatype is DataType.BYTES:
        assert got.data.dtype == np.object_
        assert got.data.tolist() == want.data.tolist()
        assert all(type(item) is bytes for item in got.data.ravel().tolist())
    else:
        assert got.data.dtype == NUMPY_DTYPE[want.datatype]
        assert got.data.tobytes() == np.asarray(want.data, NUMPY_DTYPE[want.datatype]).tobytes()
