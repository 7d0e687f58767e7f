"""REST inference bodies: round trips of every datatype, JSON data forms, output rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from loadmaster.oip.datatypes import BINARY_ONLY, DataType
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.rest_codec import (
    decode_infer_request,
    decode_infer_response,
    encode_infer_request,
    encode_infer_response,
    parse_header_length,
)
from loadmaster.oip.types import InferRequest, InferResponse, RequestedOutput, Tensor
from tests.loadmaster.oip.samples import (
    ALL_TYPES,
    JSON_TYPES,
    NON_UTF8,
    SHAPE,
    assert_same,
    sample,
)


def _header(body: bytes, header_length: int | None) -> Any:
    return orjson.loads(body if header_length is None else body[:header_length])


@pytest.mark.parametrize("datatype", ALL_TYPES)
def test_request_round_trip_binary(datatype: DataType) -> None:
    request = InferRequest("m", (sample(datatype, "a"), sample(datatype, "b")), id="r1")
    body, header_length = encode_infer_request(request, binary=True)
    assert header_length is not None
    decoded = decode_infer_request(body, header_length, "m", "3")
    assert (decoded.model, decoded.version, decoded.id) == ("m", "3", "r1")
    for got, want in zip(decoded.inputs, request.inputs, strict=True):
        assert_same(got, want)
        assert "binary_data_size" not in got.parameters


@pytest.mark.parametrize("datatype", JSON_TYPES)
def test_request_round_trip_json(datatype: DataType) -> None:
    request = InferRequest("m", (sample(datatype),))
    body, header_length = encode_infer_request(request, binary=False)
    assert header_length is None
    assert "data" in _header(body, None)["inputs"][0]
    assert_same(decode_infer_request(body, None, "m").inputs[0], request.inputs[0])


@pytest.mark.parametrize("datatype", ALL_TYPES)
def test_response_round_trip_binary(datatype: DataType) -> None:
    response = InferResponse("m", (sample(datatype, "y"),), version="2", id="r9")
    request = InferRequest("m", (), parameters={"binary_data_output": True})
    body, header_length = encode_infer_response(response, request)
    assert header_length is not None
    decoded = decode_infer_response(body, header_length)
    assert (decoded.model, decoded.version, decoded.id) == ("m", "2", "r9")
    assert_same(decoded.outputs[0], response.outputs[0])
    assert decoded.outputs[0].parameters == {}


@pytest.mark.parametrize("datatype", JSON_TYPES)
def test_response_round_trip_json(datatype: DataType) -> None:
    response = InferResponse("m", (sample(datatype, "y"),))
    body, header_length = encode_infer_response(response, InferRequest("m", ()))
    assert header_length is None
    output = _header(body, None)["outputs"][0]
    assert output["shape"] == list(SHAPE)
    assert len(output["data"]) == 6  # flat
    assert_same(decode_infer_response(body, None).outputs[0], response.outputs[0])


@pytest.mark.parametrize("datatype", sorted(BINARY_ONLY))
def test_binary_only_types_are_refused_as_json(datatype: DataType) -> None:
    doc = {"inputs": [{"name": "x", "datatype": datatype.value, "shape": [1], "data": [1.0]}]}
    with pytest.raises(BadRequest, match=f"input 'x': {datatype} travels only as binary"):
        decode_infer_request(orjson.dumps(doc), None, "m")


def test_request_with_binary_and_json_inputs_mixed() -> None:
    fp16, words, ints = (
        sample(DataType.FP16, "h"),
        sample(DataType.BYTES, "w"),
        sample(DataType.INT32, "i"),
    )
    body, header_length = encode_infer_request(InferRequest("m", (fp16, words, ints)), binary=False)
    header = _header(body, header_length)
    assert [("data" in entry) for entry in header["inputs"]] == [False, True, True]
    decoded = decode_infer_request(body, header_length, "m")
    for got, want in zip(decoded.inputs, (fp16, words, ints), strict=True):
        assert_same(got, want)


def test_non_utf8_bytes_input_goes_binary_even_when_json_was_asked() -> None:
    tensor = Tensor("w", DataType.BYTES, SHAPE, NON_UTF8)
    body, header_length = encode_infer_request(InferRequest("m", (tensor,)), binary=False)
    assert header_length is not None
    assert_same(decode_infer_request(body, header_length, "m").inputs[0], tensor)


@pytest.mark.parametrize("datatype", [DataType.FP32, DataType.FP64])
def test_non_finite_float_outputs_go_binary_even_when_json_was_asked(datatype: DataType) -> None:
    values = np.array(
        [np.inf, -np.inf, np.nan], dtype="<f4" if datatype is DataType.FP32 else "<f8"
    )
    output = Tensor("y", datatype, (3,), values)
    request = InferRequest("m", (), outputs=(RequestedOutput("y", binary=False),))
    body, header_length = encode_infer_response(InferResponse("m", (output,)), request)
    assert header_length is not None  # JSON would have written null for each
    assert body[header_length:] == values.tobytes()


@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [
        (DataType.FP32, [[1, 2.5, 3], [4, 5, 6]], [[1, 2.5, 3], [4, 5, 6]]),
        (DataType.INT64, [[[1], [2], [3]], [[4], [5], [6]]], [[1, 2, 3], [4, 5, 6]]),
        (DataType.INT32, [1, 2, 3, 4, 5, 6], [[1, 2, 3], [4, 5, 6]]),
        (DataType.BOOL, [[True, False, True], [True, True, False]], None),
        (DataType.BYTES, [["a", "b", "c"], ["d", "", "\u00e9"]], None),
        (DataType.UINT64, [1, 2**64 - 1, 2, 3, 4, 2**63], None),
        (DataType.FP64, [1, 2, 3, 4, 5, 6], None),
    ],
    ids=["nested-2d", "nested-3d", "flat", "bool", "bytes-nested", "uint64-big", "ints-as-fp64"],
)
def test_json_data_forms(datatype: DataType, data: list[Any], expected: Any) -> None:
    doc = {"inputs": [{"name": "x", "datatype": datatype.value, "shape": [2, 3], "data": data}]}
    tensor = decode_infer_request(orjson.dumps(doc), None, "m").inputs[0]
    assert tensor.data.shape == (2, 3)
    if datatype is DataType.BYTES:
        assert tensor.data.ravel().tolist() == [b"a", b"b", b"c", b"d", b"", "\u00e9".encode()]
    else:
        flat = np.asarray(data, dtype=tensor.data.dtype).reshape(-1)
        assert tensor.data.reshape(-1).tolist() == flat.tolist()
    if expected is not None:
        assert tensor.data.tolist() == expected


def test_request_fields_and_extension_parameters() -> None:
    doc = {
        "id": "abc",
        "parameters": {"binary_data_output": True, "priority": 2, "note": "n", "t": 0.5},
        "inputs": [
            {
                "name": "x",
                "datatype": "INT8",
                "shape": [2],
                "parameters": {"binary_data_size": 2, "content_type": "np"},
            }
        ],
        "outputs": [
            {"name": "a", "parameters": {"binary_data": False, "class_count": 3}},
            {"name": "b"},
        ],
    }
    header = orjson.dumps(doc)
    request = decode_infer_request(header + b"\x01\xff", len(header), "m", "7")
    assert request.id == "abc"
    assert request.parameters == {"binary_data_output": True, "priority": 2, "note": "n", "t": 0.5}
    assert request.inputs[0].parameters == {"content_type": "np"}
    assert request.inputs[0].data.tolist() == [1, -1]
    assert request.outputs == (
        RequestedOutput("a", False, {"class_count": 3}),
        RequestedOutput("b", None, {}),
    )


def test_empty_body_sections() -> None:
    doc = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [0], "parameters": {"binary_data_size": 0}}
        ]
    }
    header = orjson.dumps(doc)
    tensor = decode_infer_request(header, len(header), "m").inputs[0]
    assert tensor.data.shape == (0,)


def _response(*tensors: Tensor) -> InferResponse:
    return InferResponse("m", tensors, version="1", id="")


UTF8_WORDS = sample(DataType.BYTES, "words")
FP32 = sample(DataType.FP32, "f32")
FP16 = sample(DataType.FP16, "f16")
RAW_WORDS = Tensor("raw", DataType.BYTES, SHAPE, NON_UTF8)


@pytest.mark.parametrize(
    ("params", "outputs", "expected"),
    [
        ({}, (), {"f32": False, "f16": True, "words": False, "raw": True}),
        ({"binary_data_output": True}, (), {"f32": True, "f16": True, "words": True, "raw": True}),
        (
            {"binary_data_output": False},
            (),
            {"f32": False, "f16": True, "words": False, "raw": True},
        ),
        (
            {"binary_data_output": True},
            (
                RequestedOutput("f32", False),
                RequestedOutput("words"),
                RequestedOutput("f16", False),
            ),
            {"f32": False, "words": True, "f16": True},
        ),
        (
            {},
            (RequestedOutput("raw", False), RequestedOutput("f32", True)),
            {"raw": True, "f32": True},
        ),
        ({}, (RequestedOutput("words"),), {"words": False}),
    ],
    ids=["default", "all-binary", "explicit-json", "per-output-overrides", "forced", "select-one"],
)
def test_output_binary_choice_and_selection(
    params: dict[str, bool], outputs: tuple[RequestedOutput, ...], expected: dict[str, bool]
) -> None:
    response = _response(FP32, FP16, UTF8_WORDS, RAW_WORDS)
    request = InferRequest("m", (), id="req-1", outputs=outputs, parameters=params)
    body, header_length = encode_infer_response(response, request)
    header = _header(body, header_length)
    assert header["id"] == "req-1"
    assert [entry["name"] for entry in header["outputs"]] == list(expected)
    for entry in header["outputs"]:
        is_binary = "binary_data_size" in entry.get("parameters", {})
        assert is_binary is expected[entry["name"]], entry["name"]
        assert ("data" in entry) is not is_binary
    assert (header_length is not None) is any(expected.values())
    by_name = {tensor.name: tensor for tensor in response.outputs}
    for got in decode_infer_response(body, header_length).outputs:
        assert_same(got, by_name[got.name])


def test_binary_outputs_follow_the_json_in_output_order() -> None:
    a, b = sample(DataType.INT8, "a"), sample(DataType.INT16, "b")
    request = InferRequest(
        "m", (), outputs=(RequestedOutput("b", True), RequestedOutput("a", True))
    )
    body, header_length = encode_infer_response(_response(a, b), request)
    assert header_length is not None
    sizes = [
        entry["parameters"]["binary_data_size"] for entry in _header(body, header_length)["outputs"]
    ]
    assert sizes == [12, 6]
    assert body[header_length:] == b.data.tobytes() + a.data.tobytes()


def test_response_keeps_tensor_and_response_parameters() -> None:
    tensor = Tensor("y", DataType.INT8, (1,), np.array([3], dtype=np.int8), {"content_type": "np"})
    response = InferResponse("m", (tensor,), parameters={"took": 1.5})
    body, _ = encode_infer_response(response, InferRequest("m", ()))
    header = orjson.loads(body)
    assert header["parameters"] == {"took": 1.5}
    assert header["outputs"][0] == {
        "name": "y",
        "datatype": "INT8",
        "shape": [1],
        "parameters": {"content_type": "np"},
        "data": [3],
    }
    assert decode_infer_response(body, None).outputs[0].parameters == {"content_type": "np"}


def test_unknown_requested_output_is_a_bad_request() -> None:
    request = InferRequest("m", (), outputs=(RequestedOutput("nope"),))
    with pytest.raises(BadRequest, match="requested output 'nope' is not an output of model 'm'"):
        encode_infer_response(_response(FP32), request)


def test_client_request_carries_output_preferences() -> None:
    request = InferRequest(
        "m",
        (sample(DataType.INT8),),
        outputs=(RequestedOutput("y", True, {"k": 1}), RequestedOutput("z")),
    )
    body, header_length = encode_infer_request(request, binary=True)
    header = _header(body, header_length)
    assert header["outputs"] == [
        {"name": "y", "parameters": {"k": 1, "binary_data": True}},
        {"name": "z"},
    ]
    assert decode_infer_request(body, header_length, "m").outputs == request.outputs


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("0", 0), (" 42 ", 42)])
def test_parse_header_length(value: str | None, expected: int | None) -> None:
    assert parse_header_length(value) == expected


@pytest.mark.parametrize("value", ["", "-1", "1.5", "abc", "\u0663"])
def test_parse_header_length_rejects(value: str) -> None:
    with pytest.raises(BadRequest, match="Inference-Header-Content-Length must be"):
        parse_header_length(value)
