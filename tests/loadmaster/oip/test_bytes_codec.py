"""BYTES framing: 4-byte little-endian length, then the bytes, for each element in C order."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from loadmaster.oip.bytes_codec import decode_bytes, encode_bytes
from loadmaster.oip.errors import BadRequest


def _framed(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def _objects(*items: object) -> np.ndarray:
    out = np.empty(len(items), dtype=np.object_)
    out[:] = list(items)
    return out


@pytest.mark.parametrize(
    ("array", "wire"),
    [
        (_objects(b"ab", b"", b"\xff\x00"), _framed(b"ab", b"", b"\xff\x00")),
        (_objects("h\u00e9", ""), _framed("h\u00e9".encode(), b"")),
        (_objects(bytearray(b"q")), _framed(b"q")),
        (np.array([["a", "bc"], ["", "d"]]), _framed(b"a", b"bc", b"", b"d")),
        (np.array([b"xy", b"z"]), _framed(b"xy", b"z")),
        (_objects(), b""),
    ],
    ids=["bytes", "str", "bytearray", "unicode-2d-c-order", "fixed-bytes", "empty"],
)
def test_encode_bytes(array: np.ndarray, wire: bytes) -> None:
    assert encode_bytes(array) == wire


def test_encode_follows_c_order_of_a_transposed_view() -> None:
    array = _objects(b"a", b"b", b"c", b"d").reshape(2, 2).T
    assert encode_bytes(array) == _framed(b"a", b"c", b"b", b"d")


def test_encode_refuses_non_bytes_elements() -> None:
    with pytest.raises(TypeError, match="int"):
        encode_bytes(_objects(b"a", 3))


@pytest.mark.parametrize(
    "items",
    [[b""], [b"", b"", b""], [b"\xff\xfe", b"\x80"], [b"x" * 70000, b"y"], []],
    ids=["one-empty", "all-empty", "non-utf8", "long", "none"],
)
def test_round_trip(items: list[bytes]) -> None:
    wire = _framed(*items)
    for buf in (wire, memoryview(wire)):
        decoded = decode_bytes(buf, len(items), "x")
        assert decoded.dtype == np.object_
        assert decoded.tolist() == items
        assert all(type(item) is bytes for item in decoded.tolist())


def test_decode_reads_a_slice_of_a_larger_buffer() -> None:
    wire = b"JUNK" + _framed(b"ab", b"c") + b"TAIL"
    view = memoryview(wire)[4:-4]
    assert decode_bytes(view, 2, "x").tolist() == [b"ab", b"c"]


@pytest.mark.parametrize(
    ("wire", "count", "message"),
    [
        (_framed(b"ab")[:3], 1, "1 BYTES elements need at least 4 bytes, got 3"),
        (_framed(b"ab") + b"\x01\x00", 2, "element 1 of 2 has no length prefix"),
        (_framed(b"ab") + b"\x01\x00\x00\x00\x00", 3, "need at least 12 bytes, got 11"),
        (_framed(b"a", b"") + b"\x00\x00\x00", 3, "element 2 of 3 has no length prefix"),
        (_framed(b"abc")[:-1], 1, "claims 3 bytes but only 2 remain"),
        (struct.pack("<I", 2**32 - 1) + b"abc", 1, "claims 4294967295 bytes"),
        (_framed(b"a", b"b"), 1, "bytes left over after 1 BYTES elements"),
        (_framed(b"a") + b"\x00", 1, "1 bytes left over"),
        (b"", -1, "negative"),
    ],
    ids=[
        "truncated-prefix",
        "count-above-minimum",
        "count-above-buffer",
        "missing-prefix",
        "length-past-end",
        "huge-length",
        "count-below-elements",
        "trailing-byte",
        "negative-count",
    ],
)
def test_decode_rejects(wire: bytes, count: int, message: str) -> None:
    with pytest.raises(BadRequest, match=message) as info:
        decode_bytes(wire, count, "words")
    assert "input 'words'" in info.value.message


def test_decode_names_the_role() -> None:
    with pytest.raises(BadRequest, match="output 'y'"):
        decode_bytes(b"", 1, "y", role="output")


def test_forged_count_is_refused_before_allocating() -> None:
    start = time.perf_counter()
    with pytest.raises(BadRequest, match="at least"):
        decode_bytes(_framed(b""), 10**12, "x")
    assert time.perf_counter() - start < 0.5
