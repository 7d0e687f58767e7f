"""gRPC messages: raw and typed round trips of every datatype, parameters, metadata."""

from __future__ import annotations

from typing import Any

import pytest

from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.oip.datatypes import BINARY_ONLY, DataType
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.grpc_codec import (
    model_metadata_to_proto,
    params_from_proto,
    params_to_proto,
    repository_index_to_proto,
    repository_parameters_from_proto,
    request_from_proto,
    request_to_proto,
    response_from_proto,
    response_to_proto,
    server_metadata_to_proto,
)
from loadmaster.oip.grpc_contents import fill_contents
from loadmaster.oip.types import (
    InferRequest,
    InferResponse,
    ModelMetadata,
    RepositoryEntry,
    RequestedOutput,
    ServerMetadata,
    TensorSpec,
)
from tests.loadmaster.oip.samples import ALL_TYPES, JSON_TYPES, SAMPLES, assert_same, sample

TYPED_TYPES = JSON_TYPES  # every datatype but FP16/BF16 has a typed field


def _over_the_wire(msg: pb.ModelInferRequest) -> pb.ModelInferRequest:
    return pb.ModelInferRequest.FromString(msg.SerializeToString())


@pytest.mark.parametrize("datatype", ALL_TYPES)
def test_request_round_trip_raw(datatype: DataType) -> None:
    request = InferRequest(
        "m",
        (sample(datatype, "a"), sample(datatype, "b")),
        version="3",
        id="r1",
        outputs=(RequestedOutput("y", parameters={"k": "v"}),),
        parameters={"priority": 2},
    )
    msg = _over_the_wire(request_to_proto(request))
    assert len(msg.raw_input_contents) == 2
    assert not msg.inputs[0].HasField("contents")
    decoded = request_from_proto(msg)
    assert (decoded.model, decoded.version, decoded.id) == ("m", "3", "r1")
    assert decoded.parameters == {"priority": 2}
    assert decoded.outputs == request.outputs
    for got, want in zip(decoded.inputs, request.inputs, strict=True):
        assert_same(got, want)


@pytest.mark.parametrize("datatype", TYPED_TYPES)
def test_request_round_trip_typed(datatype: DataType) -> None:
    msg = pb.ModelInferRequest(model_name="m")
    item = msg.inputs.add(name="x", datatype=datatype.value, shape=[2, 3])
    fill_contents(item.contents, sample(datatype))
    assert_same(request_from_proto(_over_the_wire(msg)).inputs[0], sample(datatype))


@pytest.mark.parametrize("datatype", ALL_TYPES)
def test_response_round_trip_is_always_raw(datatype: DataType) -> None:
    response = InferResponse(
        "m", (sample(datatype, "y"),), version="1", id="r2", parameters={"t": 0.5}
    )
    msg = pb.ModelInferResponse.FromString(response_to_proto(response).SerializeToString())
    assert len(msg.raw_output_contents) == 1
    assert not msg.outputs[0].HasField("contents")
    decoded = response_from_proto(msg)
    assert (decoded.model, decoded.version, decoded.id) == ("m", "1", "r2")
    assert decoded.parameters == {"t": 0.5}
    assert_same(decoded.outputs[0], response.outputs[0])


@pytest.mark.parametrize("datatype", TYPED_TYPES)
def test_response_from_typed_contents(datatype: DataType) -> None:
    msg = pb.ModelInferResponse(model_name="m")
    fill_contents(
        msg.outputs.add(name="y", datatype=datatype.value, shape=[2, 3]).contents,
        sample(datatype, "y"),
    )
    assert_same(response_from_proto(msg).outputs[0], sample(datatype, "y"))


def test_raw_inputs_are_zero_copy_views_of_the_message_bytes() -> None:
    msg = request_to_proto(InferRequest("m", (sample(DataType.FP32),)))
    tensor = request_from_proto(msg).inputs[0]
    assert not tensor.data.flags.owndata
    assert not tensor.data.flags.writeable


def test_response_to_proto_selects_requested_outputs_in_order() -> None:
    response = InferResponse("m", (sample(DataType.INT8, "a"), sample(DataType.FP32, "b")))
    request = InferRequest("m", (), id="r3", outputs=(RequestedOutput("b"), RequestedOutput("a")))
    msg = response_to_proto(response, request)
    assert [output.name for output in msg.outputs] == ["b", "a"]
    assert msg.raw_output_contents[0] == SAMPLES[DataType.FP32].tobytes()
    assert msg.id == "r3"
    with pytest.raises(BadRequest, match="requested output 'c' is not an output"):
        response_to_proto(response, InferRequest("m", (), outputs=(RequestedOutput("c"),)))


def _raw_request(datatype: str, shape: list[int], raw: bytes) -> pb.ModelInferRequest:
    msg = pb.ModelInferRequest(model_name="m", raw_input_contents=[raw])
    msg.inputs.add(name="x", datatype=datatype, shape=shape)
    return msg


def _typed_request(datatype: str, shape: list[int], **contents: Any) -> pb.ModelInferRequest:
    msg = pb.ModelInferRequest(model_name="m")
    item = msg.inputs.add(name="x", datatype=datatype, shape=shape)
    item.contents.CopyFrom(pb.InferTensorContents(**contents))
    return msg


def _two_inputs_one_raw() -> pb.ModelInferRequest:
    msg = _raw_request("INT8", [1], b"\x01")
    msg.inputs.add(name="z", datatype="INT8", shape=[1])
    return msg


def _duplicate_inputs() -> pb.ModelInferRequest:
    msg = pb.ModelInferRequest(raw_input_contents=[b"\x01", b"\x02"])
    msg.inputs.add(name="x", datatype="INT8", shape=[1])
    msg.inputs.add(name="x", datatype="INT8", shape=[1])
    return msg


def _raw_and_typed() -> pb.ModelInferRequest:
    msg = _raw_request("INT32", [1], bytes(4))
    msg.inputs[0].contents.int_contents.append(5)
    return msg


def _unset_parameter() -> pb.ModelInferRequest:
    msg = _raw_request("INT8", [1], b"\x01")
    msg.parameters["p"].SetInParent()
    return msg


MALFORMED: list[tuple[str, pb.ModelInferRequest, str]] = [
    ("raw-count-mismatch", _two_inputs_one_raw(), "2 inputs but 1 raw_input_contents"),
    (
        "raw-too-short",
        _raw_request("FP32", [2, 3], bytes(20)),
        r"shape \[2, 3\] needs 24 bytes of FP32, got 20",
    ),
    ("raw-too-long", _raw_request("INT8", [1], b"\x01\x02"), "needs 1 bytes of INT8, got 2"),
    ("forged-shape-raw", _raw_request("FP32", [10**12], bytes(4)), "needs 4000000000000 bytes"),
    ("negative-dim", _raw_request("FP32", [-1], b""), "shape dimension -1 is negative"),
    ("unknown-datatype", _raw_request("FP8", [1], b"\x00"), "input 'x': unknown datatype 'FP8'"),
    ("bool-byte-2", _raw_request("BOOL", [1], b"\x02"), "BOOL bytes must be 0 or 1"),
    ("bytes-framing", _raw_request("BYTES", [1], b"\x09\x00\x00\x00ab"), "claims 9 bytes"),
    ("duplicate-input", _duplicate_inputs(), "input 'x' appears more than once"),
    ("raw-and-typed", _raw_and_typed(), "input 'x' has typed contents although raw_input_contents"),
    ("unset-parameter", _unset_parameter(), "request: parameter 'p' has no value"),
    (
        "fp16-typed",
        _typed_request("FP16", [1], fp32_contents=[1.0]),
        "FP16 travels only as raw contents",
    ),
    (
        "bf16-typed",
        _typed_request("BF16", [1], uint_contents=[1]),
        "BF16 travels only as raw contents",
    ),
    (
        "forged-shape-typed",
        _typed_request("FP32", [10**12], fp32_contents=[1.0]),
        "needs 1000000000000 values in fp32_contents, got 1",
    ),
    (
        "typed-count-short",
        _typed_request("INT64", [3], int64_contents=[1, 2]),
        "needs 3 values in int64_contents, got 2",
    ),
    (
        "typed-wrong-field",
        _typed_request("FP32", [1], int_contents=[1]),
        "FP32 values belong in fp32_contents, found int_contents",
    ),
    (
        "typed-extra-field",
        _typed_request("INT32", [1], int_contents=[1], fp64_contents=[2.0]),
        "found fp64_contents",
    ),
    ("typed-missing", _typed_request("FP64", [2]), "needs 2 values in fp64_contents, got 0"),
    (
        "int8-overflow",
        _typed_request("INT8", [2], int_contents=[1, 200]),
        "value 200 is out of range for INT8",
    ),
    (
        "int16-underflow",
        _typed_request("INT16", [1], int_contents=[-40000]),
        "value -40000 is out of range for INT16",
    ),
    (
        "uint8-overflow",
        _typed_request("UINT8", [1], uint_contents=[256]),
        "value 256 is out of range for UINT8",
    ),
]


@pytest.mark.parametrize(
    ("msg", "message"), [case[1:] for case in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_request(msg: pb.ModelInferRequest, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        request_from_proto(_over_the_wire(msg))


def test_response_raw_count_mismatch_names_outputs() -> None:
    msg = pb.ModelInferResponse(raw_output_contents=[b"a", b"b"])
    msg.outputs.add(name="y", datatype="INT8", shape=[1])
    with pytest.raises(BadRequest, match="1 outputs but 2 raw_output_contents"):
        response_from_proto(msg)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (True, "bool_param"),
        (False, "bool_param"),
        (-(2**63), "int64_param"),
        (2**63 - 1, "int64_param"),
        (2**63, "uint64_param"),
        (2**64 - 1, "uint64_param"),
        (0.25, "double_param"),
        ("text", "string_param"),
    ],
)
def test_params_round_trip(value: object, field: str) -> None:
    msg = pb.ModelInferRequest()
    params_to_proto({"k": value}, msg.parameters)  # type: ignore[dict-item]
    assert msg.parameters["k"].WhichOneof("parameter_choice") == field
    decoded = params_from_proto(pb.ModelInferRequest.FromString(msg.SerializeToString()).parameters)
    assert decoded == {"k": value}
    assert type(decoded["k"]) is type(value)


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, None, [1]])
def test_params_to_proto_refuses_what_cannot_travel(value: object) -> None:
    with pytest.raises(ValueError, match="parameter 'k'"):
        params_to_proto({"k": value}, pb.ModelInferRequest().parameters)  # type: ignore[dict-item]


def test_params_from_tritonclient_style_fields() -> None:
    msg = pb.ModelInferRequest()
    msg.parameters["priority"].uint64_param = 3
    msg.parameters["ratio"].double_param = 1.5
    msg.parameters["sequence_start"].bool_param = True
    assert params_from_proto(msg.parameters) == {
        "priority": 3,
        "ratio": 1.5,
        "sequence_start": True,
    }


def test_repository_params() -> None:
    msg = pb.RepositoryModelLoadRequest(model_name="m")
    msg.parameters["b"].bool_param = True
    msg.parameters["i"].int64_param = -4
    msg.parameters["s"].string_param = "x"
    msg.parameters["y"].bytes_param = b"\x00\xff"
    assert repository_parameters_from_proto(msg.parameters) == {
        "b": True,
        "i": -4,
        "s": "x",
        "y": b"\x00\xff",
    }
    msg.parameters["unset"].SetInParent()
    with pytest.raises(BadRequest, match="repository parameter 'unset' has no value"):
        repository_parameters_from_proto(msg.parameters)


def test_model_metadata_to_proto() -> None:
    meta = ModelMetadata(
        "iris",
        ("1", "2"),
        "sklearn",
        (TensorSpec("x", DataType.FP32, (-1, 4)),),
        (TensorSpec("y", DataType.BYTES, (-1,)),),
        {"workers": 2, "content_type": "np"},
    )
    msg = pb.ModelMetadataResponse.FromString(model_metadata_to_proto(meta).SerializeToString())
    assert (msg.name, list(msg.versions), msg.platform) == ("iris", ["1", "2"], "sklearn")
    assert [(t.name, t.datatype, list(t.shape)) for t in msg.inputs] == [("x", "FP32", [-1, 4])]
    assert [(t.name, t.datatype, list(t.shape)) for t in msg.outputs] == [("y", "BYTES", [-1])]
    assert params_from_proto(msg.parameters) == {"workers": 2, "content_type": "np"}


def test_server_metadata_and_repository_index() -> None:
    server = server_metadata_to_proto(ServerMetadata("lm", "0.1", ("a", "b")))
    assert (server.name, server.version, list(server.extensions)) == ("lm", "0.1", ["a", "b"])
    index = repository_index_to_proto(
        iter([RepositoryEntry("m", "1", "READY", ""), RepositoryEntry("n", "2", "FAILED", "oom")])
    )
    assert [(e.name, e.version, e.state, e.reason) for e in index.models] == [
        ("m", "1", "READY", ""),
        ("n", "2", "FAILED", "oom"),
    ]


def test_binary_only_types_have_no_typed_field() -> None:
    for datatype in BINARY_ONLY:
        with pytest.raises(ValueError, match="has no typed contents field"):
            fill_contents(pb.InferTensorContents(), sample(datatype))
