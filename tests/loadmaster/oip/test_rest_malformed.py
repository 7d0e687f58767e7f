"""Every client mistake in a REST inference body is a BadRequest with a precise message."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from loadmaster.oip.errors import BadRequest
from loadmaster.oip.rest_codec import decode_infer_request, decode_infer_response


def _input(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "x", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not _DROP}


_DROP = object()


def _json(doc: Any) -> tuple[bytes, int | None]:
    return orjson.dumps(doc), None


def _binary(doc: Any, payload: bytes) -> tuple[bytes, int | None]:
    header = orjson.dumps(doc)
    return header + payload, len(header)


def _one(**fields: Any) -> tuple[bytes, int | None]:
    return _json({"inputs": [_input(**fields)]})


def _sized(size: Any, payload: bytes, **fields: Any) -> tuple[bytes, int | None]:
    entry = _input(data=_DROP, parameters={"binary_data_size": size}, **fields)
    return _binary({"inputs": [entry]}, payload)


CASES: list[tuple[str, tuple[bytes, int | None], str]] = [
    # The body itself.
    ("bad-json", (b'{"inputs": [', None), "request body is not valid JSON"),
    ("not-utf8-json", (b'{"id": "\xff"}', None), "request body is not valid JSON"),
    ("empty-body", (b"", None), "request body is not valid JSON"),
    ("top-level-list", _json([]), "request body must be a JSON object, got array"),
    ("header-beyond-body", (b"{}", 3), "Inference-Header-Content-Length 3 is beyond the 2-byte"),
    ("header-negative", (b"{}", -1), "Inference-Header-Content-Length -1 is beyond"),
    ("header-cuts-json", (b'{"inputs": []}', 5), "not valid JSON"),
    # Request fields.
    ("missing-inputs", _json({}), "request has no 'inputs'"),
    ("inputs-not-list", _json({"inputs": {}}), "request: 'inputs' must be a list, got object"),
    ("id-not-string", _json({"id": 5, "inputs": []}), "request: 'id' must be a string, got number"),
    ("params-not-object", _json({"parameters": [], "inputs": []}), "'parameters' must be a JSON"),
    (
        "param-nested",
        _json({"parameters": {"h": {"a": 1}}, "inputs": []}),
        "parameter 'h' must be a bool, number or string, got object",
    ),
    ("param-null", _json({"parameters": {"h": None}, "inputs": []}), "got null"),
    (
        "binary-data-output-not-bool",
        _json({"parameters": {"binary_data_output": 1}, "inputs": []}),
        "'binary_data_output' must be a boolean",
    ),
    # Input fields.
    ("input-not-object", _json({"inputs": [1]}), "input 0 must be a JSON object, got number"),
    ("missing-name", _one(name=_DROP), "input 0 has no 'name'"),
    ("name-not-string", _one(name=3), "input 0: 'name' must be a string"),
    ("missing-datatype", _one(datatype=_DROP), "input 'x' has no 'datatype'"),
    ("missing-shape", _one(shape=_DROP), "input 'x' has no 'shape'"),
    ("missing-data", _one(data=_DROP), "input 'x' has neither 'data' nor a binary_data_size"),
    ("unknown-datatype", _one(datatype="FP8"), "input 'x': unknown datatype 'FP8'"),
    ("datatype-not-string", _one(datatype=1), "datatype must be a string"),
    ("negative-dim", _one(shape=[-2]), "input 'x': shape dimension -2 is negative"),
    ("float-dim", _one(shape=[2.0]), "shape dimension 2.0 is not an integer"),
    ("string-dim", _one(shape=["2"]), "shape dimension '2' is not an integer"),
    ("shape-not-list", _one(shape=2), "shape must be a list of integers, got int"),
    ("input-params-not-object", _one(parameters="x"), "input 'x': 'parameters' must be a JSON"),
    (
        "duplicate-input",
        _json({"inputs": [_input(), _input()]}),
        "input 'x' appears more than once",
    ),
    # JSON data.
    ("forged-shape-json", _one(shape=[3]), r"input 'x': shape \[3\] needs 3 elements, got 2"),
    ("forged-shape-nested", _one(shape=[3], data=[[1.0], [2.0]]), "needs 3 elements, got 2"),
    ("ragged", _one(shape=[3], data=[[1.0, 2.0], [3.0]]), "data is ragged"),
    ("lists-and-values", _one(data=[1.0, [2.0]]), "data is ragged"),
    ("ragged-bytes", _one(datatype="BYTES", shape=[3], data=[["a", "b"], ["c"]]), "ragged"),
    ("data-not-list", _one(data=1.0, shape=[]), "data must be a list, got float"),
    ("data-null", _one(data=None), "data must be a list, got NoneType"),
    ("string-in-fp32", _one(data=[1.0, "2"]), "FP32 data must be numbers, got strings"),
    ("null-in-fp32", _one(data=[1.0, None]), "FP32 data must be numbers, got nulls"),
    ("bool-in-fp32", _one(data=[True, False]), "FP32 data must be numbers, got booleans"),
    ("float-in-int32", _one(datatype="INT32", data=[1, 2.5]), "INT32 data must be integers"),
    ("string-in-int64", _one(datatype="INT64", data=["1", "2"]), "INT64 data must be integers"),
    ("int-in-bool", _one(datatype="BOOL", data=[1, 0]), "BOOL data must be true/false, got int"),
    (
        "number-in-bytes",
        _one(datatype="BYTES", data=["a", 1]),
        "BYTES data must be strings, got int",
    ),
    ("int8-overflow", _one(datatype="INT8", data=[1, 300]), "value 300 is out of range for INT8"),
    ("uint8-negative", _one(datatype="UINT8", data=[-1, 3]), "value -1 is out of range for UINT8"),
    ("int64-overflow", _one(datatype="INT64", data=[1, 2**63]), "INT64 data must be integers"),
    ("uint64-negative", _one(datatype="UINT64", data=[-1, 2**63]), "out of range for UINT64"),
    ("uint64-float", _one(datatype="UINT64", data=[1.5, 2**63]), "UINT64 data must be integers"),
    ("fp32-overflow", _one(data=[1.0, 1e39]), "out of range for FP32"),
    ("fp16-json", _one(datatype="FP16"), "input 'x': FP16 travels only as binary"),
    ("bf16-json", _one(datatype="BF16"), "input 'x': BF16 travels only as binary"),
    # The binary extension.
    ("size-mismatch", _sized(4, bytes(4)), r"shape \[2\] needs 8 bytes of FP32, got 4"),
    ("size-past-body", _sized(16, bytes(8)), "binary_data_size 16 runs past the binary data"),
    ("leftover-bytes", _sized(8, bytes(12)), "4 bytes of binary data follow the JSON header"),
    (
        "leftover-without-binary-inputs",
        _binary({"inputs": [_input()]}, b"xx"),
        "2 bytes of binary data follow the JSON header but no input claims them",
    ),
    ("size-negative", _sized(-8, bytes(8)), "binary_data_size must be a non-negative integer"),
    ("size-float", _sized(8.0, bytes(8)), "binary_data_size must be a non-negative integer"),
    ("size-bool", _sized(True, bytes(8)), "binary_data_size must be a non-negative integer"),
    ("size-string", _sized("8", bytes(8)), "binary_data_size must be a non-negative integer"),
    (
        "size-and-data",
        _binary({"inputs": [_input(parameters={"binary_data_size": 8})]}, bytes(8)),
        "input 'x' has both 'data' and a binary_data_size",
    ),
    (
        "size-without-header",
        (_sized(8, b"")[0], None),
        r"runs past the binary data \(0 bytes left\)",
    ),
    ("forged-shape-binary", _sized(4, bytes(4), shape=[10**12]), "needs 4000000000000 bytes"),
    ("bool-byte-2", _sized(2, b"\x01\x02", datatype="BOOL"), "BOOL bytes must be 0 or 1"),
    (
        "bytes-truncated-framing",
        _sized(6, b"\x05\x00\x00\x00ab", datatype="BYTES", shape=[1]),
        "BYTES element 0 claims 5 bytes but only 2 remain",
    ),
    # Requested outputs.
    ("outputs-not-list", _json({"inputs": [], "outputs": {}}), "'outputs' must be a list"),
    ("output-not-object", _json({"inputs": [], "outputs": ["y"]}), "requested output 0 must be"),
    ("output-no-name", _json({"inputs": [], "outputs": [{}]}), "requested output 0 has no 'name'"),
    (
        "output-binary-not-bool",
        _json({"inputs": [], "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]}),
        "requested output 'y': parameter 'binary_data' must be a boolean",
    ),
    (
        "duplicate-output",
        _json({"inputs": [], "outputs": [{"name": "y"}, {"name": "y"}]}),
        "requested output 'y' appears more than once",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_request(body: tuple[bytes, int | None], message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(BadRequest, match=message):
        decode_infer_request(body[0], body[1], "m")
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    ("body", "header_length", "message"),
    [
        (b"{}", None, "response has no 'outputs'"),
        (b"nope", None, "response body is not valid JSON"),
        (orjson.dumps({"model_name": 1, "outputs": []}), None, "'model_name' must be a string"),
        (
            orjson.dumps(
                {"outputs": [{"name": "y", "datatype": "FP16", "shape": [1], "data": [1]}]}
            ),
            None,
            "output 'y': FP16 travels only as binary",
        ),
        (
            orjson.dumps(
                {
                    "outputs": [
                        {
                            "name": "y",
                            "datatype": "INT8",
                            "shape": [1],
                            "parameters": {"binary_data_size": 2},
                        }
                    ]
                }
            ),
            None,
            "output 'y': binary_data_size 2 runs past",
        ),
    ],
    ids=["no-outputs", "bad-json", "model-name-type", "fp16-json", "binary-without-header"],
)
def test_malformed_response(body: bytes, header_length: int | None, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        decode_infer_response(body, header_length)
