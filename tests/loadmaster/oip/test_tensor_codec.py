"""Shapes and raw tensor bytes: validation before allocation, zero-copy views, round trips."""

from __future__ import annotations

import time

import numpy as np
import pytest

from loadmaster.oip.datatypes import DataType
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.tensor_codec import (
    MAX_DIMS,
    check_shape,
    datatype_from_wire,
    element_count,
    integer_range,
    raw_buffer,
    tensor_from_raw,
    tensor_to_raw,
)
from loadmaster.oip.types import Tensor
from tests.loadmaster.oip.samples import ALL_TYPES, SAMPLES, assert_same, sample


@pytest.mark.parametrize(
    ("shape", "expected"),
    [([], ()), ([0], (0,)), ([2, 3], (2, 3)), ((4,), (4,)), ([1] * MAX_DIMS, (1,) * MAX_DIMS)],
)
def test_check_shape_accepts(shape: object, expected: tuple[int, ...]) -> None:
    assert check_shape(shape, "x") == expected


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("[2]", "shape must be a list of integers, got str"),
        (None, "got NoneType"),
        (3, "got int"),
        ([2, -1], "dimension -1 is negative"),
        ([2.0], "dimension 2.0 is not an integer"),
        (["2"], "dimension '2' is not an integer"),
        ([True], "dimension True is not an integer"),
        ([None], "dimension None is not an integer"),
        ([1] * (MAX_DIMS + 1), f"at most {MAX_DIMS} allowed"),
    ],
)
def test_check_shape_rejects(shape: object, message: str) -> None:
    with pytest.raises(BadRequest, match=message) as info:
        check_shape(shape, "x")
    assert info.value.message.startswith("input 'x': ")


@pytest.mark.parametrize(("shape", "count"), [((), 1), ((0,), 0), ((2, 3), 6), ((10**12,), 10**12)])
def test_element_count(shape: tuple[int, ...], count: int) -> None:
    assert element_count(shape) == count


@pytest.mark.parametrize(
    ("datatype", "low", "high"),
    [(DataType.INT8, -128, 127), (DataType.UINT16, 0, 65535), (DataType.UINT64, 0, 2**64 - 1)],
)
def test_integer_range(datatype: DataType, low: int, high: int) -> None:
    assert integer_range(datatype) == (low, high)


def test_datatype_from_wire() -> None:
    assert datatype_from_wire("fp32", "x") is DataType.FP32
    with pytest.raises(BadRequest, match="input 'x': unknown datatype 'FP8'"):
        datatype_from_wire("FP8", "x")
    with pytest.raises(BadRequest, match="datatype must be a string, got int"):
        datatype_from_wire(3, "x")


@pytest.mark.parametrize("datatype", ALL_TYPES)
def test_raw_round_trip(datatype: DataType) -> None:
    tensor = sample(datatype)
    decoded = tensor_from_raw("x", datatype, [2, 3], tensor_to_raw(tensor))
    assert_same(decoded, tensor)


@pytest.mark.parametrize("datatype", [DataType.FP32, DataType.INT64, DataType.BOOL])
def test_raw_decoding_is_a_zero_copy_view(datatype: DataType) -> None:
    body = b"HEAD" + tensor_to_raw(sample(datatype))
    decoded = tensor_from_raw("x", datatype, [2, 3], memoryview(body)[4:])
    assert np.shares_memory(decoded.data, np.frombuffer(body, dtype=np.uint8))


def test_raw_keeps_parameters_and_copies_them() -> None:
    params = {"content_type": "np"}
    decoded = tensor_from_raw("x", DataType.INT8, [1], b"\x05", params)
    assert decoded.parameters == params
    assert decoded.parameters is not params


def test_raw_of_a_scalar_and_of_an_empty_tensor() -> None:
    assert tensor_from_raw("x", DataType.FP64, [], np.float64(2.5).tobytes()).data == 2.5
    empty = tensor_from_raw("x", DataType.FP32, [0, 5], b"")
    assert empty.data.shape == (0, 5)


@pytest.mark.parametrize(
    ("datatype", "shape", "raw", "message"),
    [
        (DataType.FP32, [2, 3], bytes(20), r"shape \[2, 3\] needs 24 bytes of FP32, got 20"),
        (DataType.FP32, [2], bytes(12), "needs 8 bytes of FP32, got 12"),
        (DataType.INT64, [10**12], bytes(4), "needs 8000000000000 bytes of INT64, got 4"),
        (DataType.BYTES, [10**12], bytes(4), "10\\d+ BYTES elements need at least"),
        (DataType.BOOL, [2], b"\x01\x02", "BOOL bytes must be 0 or 1"),
        (DataType.FP32, [-1], b"", "negative"),
        (DataType.UINT8, [0, 2**62, 2**62], b"", "too large to represent"),
    ],
    ids=["short", "long", "forged-huge", "forged-huge-bytes", "bool-2", "negative", "zero-huge"],
)
def test_raw_rejects(datatype: DataType, shape: list[int], raw: bytes, message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(BadRequest, match=message) as info:
        tensor_from_raw("x", datatype, shape, raw)
    assert info.value.message.startswith("input 'x': ")
    assert time.perf_counter() - start < 0.5


def test_raw_buffer_does_not_copy_contiguous_little_endian_data() -> None:
    data = SAMPLES[DataType.FP32]
    view = raw_buffer(Tensor("x", DataType.FP32, (2, 3), data))
    assert np.shares_memory(np.frombuffer(view, dtype=np.uint8), data)


def test_tensor_to_raw_makes_big_endian_and_strided_data_little_endian_c_order() -> None:
    data = np.arange(6, dtype=">i4").reshape(3, 2).T
    raw = tensor_to_raw(Tensor("x", DataType.INT32, (2, 3), data))
    assert raw == np.ascontiguousarray(data, dtype="<i4").tobytes()


def test_tensor_to_raw_refuses_a_tensor_whose_data_does_not_fit_its_shape() -> None:
    with pytest.raises(ValueError, match="holds 4 elements but its data has 6"):
        tensor_to_raw(Tensor("x", DataType.FP32, (2, 2), SAMPLES[DataType.FP32]))
