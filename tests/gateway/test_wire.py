"""The protobuf wire reader: the model a request names, malformed bytes, and renaming.

Messages are built with the real generated classes, so what is read is what a client sends.
"""

from __future__ import annotations

import pytest

from gateway import wire
from gateway.wire import ModelRef, WireError, read_model_ref, rename
from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.oip import errors


def infer_request(name: str = "iris", version: str = "") -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=name, model_version=version, id="r-1")
    request.parameters["priority"].int64_param = 3
    request.parameters["scale"].double_param = 0.5
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[2, 1])
    tensor.parameters["binary_data_size"].int64_param = 8
    request.outputs.add(name="y")
    request.raw_input_contents.append(bytes(range(8)))
    request.raw_input_contents.append(b"\x0a" * 300)  # bytes that look like field 1 tags
    return request


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", ModelRef("", "")),
        (infer_request().SerializeToString(), ModelRef("iris", "")),
        (infer_request("mlp", "3").SerializeToString(), ModelRef("mlp", "3")),
        (infer_request("\u00e9t\u00e9").SerializeToString(), ModelRef("\u00e9t\u00e9", "")),
        (
            pb.ModelMetadataRequest(name="iris", version="2").SerializeToString(),
            ModelRef("iris", "2"),
        ),
        (pb.ModelReadyRequest(name="iris").SerializeToString(), ModelRef("iris", "")),
        # proto3: the last occurrence of a field wins
        (
            pb.ModelReadyRequest(name="a", version="1").SerializeToString()
            + pb.ModelReadyRequest(name="b").SerializeToString(),
            ModelRef("b", "1"),
        ),
        # unknown fields of every wire type are skipped
        (
            b"\x48\x96\x01" + b"\x51" + bytes(8) + b"\x5d" + bytes(4) + b"\x0a\x01m",
            ModelRef("m", ""),
        ),
        # a 10-byte varint is the longest allowed
        (b"\x48" + b"\xff" * 9 + b"\x01" + b"\x0a\x01m", ModelRef("m", "")),
    ],
)
def test_reads_the_model_a_request_names(raw: bytes, expected: ModelRef) -> None:
    assert read_model_ref(raw) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\x80", "truncated varint at byte 0"),
        (b"\x0a", "truncated varint at byte 1"),
        (b"\x48" + b"\xff" * 10 + b"\x01", "varint longer than 10 bytes at byte 1"),
        (b"\x00", "field number 0 is out of range"),
        (b"\x0a\x05ab", "field 1 runs past the end"),
        (b"\x51\x00\x00", "field 10 runs past the end"),
        (b"\x5d\x00", "field 11 runs past the end"),
        (b"\x0b", "field 1 has wire type 3"),
        (b"\x0c", "field 1 has wire type 4"),
        (b"\x0e", "field 1 has wire type 6"),
        (b"\x0f", "field 1 has wire type 7"),
        (b"\x08\x01", "the model name (field 1) is not a string"),
        (b"\x15\x00\x00\x00\x00", "the model version (field 2) is not a string"),
        (b"\x0a\x02\xff\xfe", "the model name is not valid UTF-8"),
        (b"\x0a\x01m\x12\x01\xc3", "the model version is not valid UTF-8"),
    ],
)
def test_malformed_bytes_are_a_bad_request(raw: bytes, problem: str) -> None:
    with pytest.raises(WireError) as info:
        read_model_ref(raw)
    assert info.value.message == f"malformed request: {problem}"
    assert isinstance(info.value, errors.BadRequest) and info.value.grpc_code == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("original", "name"),
    [
        (infer_request("iris", "3"), "iris-canary"),
        (infer_request("iris"), "\u00e9t\u00e9"),
        (infer_request("a-model-with-a-long-name" * 10, "12"), "b"),
        (pb.ModelInferRequest(), "m"),
    ],
)
def test_rename_is_read_as_the_new_model_with_no_version(
    original: pb.ModelInferRequest, name: str
) -> None:
    renamed = pb.ModelInferRequest.FromString(rename(original.SerializeToString(), name))
    assert (renamed.model_name, renamed.model_version) == (name, "")
    expected = pb.ModelInferRequest()
    expected.CopyFrom(original)
    expected.model_name, expected.model_version = name, ""
    assert renamed == expected  # tensors, parameters and id untouched
    assert read_model_ref(rename(original.SerializeToString(), name)) == ModelRef(name, "")


def test_scan_fields_reports_positions() -> None:
    raw = b"\x0a\x02ab\x18\x05"
    assert wire.scan_fields(raw) == [(1, wire.LENGTH_DELIMITED, 2, 4), (3, wire.VARINT, 5, 6)]
