"""Wire compatibility with tritonclient's HTTP codec (its body builder and result parser run
in-process: no server, no network)."""

from __future__ import annotations

import numpy as np
import pytest

from loadmaster.oip.datatypes import BINARY_ONLY, DataType
from loadmaster.oip.rest_codec import decode_infer_request, encode_infer_response
from loadmaster.oip.types import InferRequest, InferResponse, RequestedOutput, Tensor
from tests.loadmaster.oip.samples import ALL_TYPES, SAMPLES, assert_same, sample

httpclient = pytest.importorskip("tritonclient.http")  # no protobuf: safe in-process

# tritonclient reads BYTES as numpy object arrays and BF16 not at all through numpy.
_CLIENT_TYPES = [dt for dt in ALL_TYPES if dt is not DataType.BF16]
# tritonclient itself refuses FP16 as JSON, so that pair is not a case.
_CLIENT_CASES = [
    pytest.param(dt, binary, id=f"{dt}-{'binary' if binary else 'json'}")
    for dt in _CLIENT_TYPES
    for binary in (True, False)
    if binary or dt not in BINARY_ONLY
]


def _client_input(datatype: DataType, binary: bool) -> object:
    tensor = httpclient.InferInput("x", list(SAMPLES[datatype].shape), datatype.value)
    tensor.set_data_from_numpy(SAMPLES[datatype], binary_data=binary)
    return tensor


@pytest.mark.parametrize(("datatype", "binary"), _CLIENT_CASES)
def test_decodes_tritonclient_requests(datatype: DataType, binary: bool) -> None:
    outputs = [httpclient.InferRequestedOutput("y", binary_data=binary)]
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        [_client_input(datatype, binary)], outputs=outputs, request_id="7"
    )
    request = decode_infer_request(body, json_size, "m")
    assert request.id == "7"
    assert request.outputs == (RequestedOutput("y", binary),)
    assert_same(request.inputs[0], sample(datatype))
    assert request.inputs[0].parameters == {}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", _CLIENT_TYPES)
def test_tritonclient_reads_our_responses(datatype: DataType, binary: bool) -> None:
    response = InferResponse("m", (sample(datatype, "y"),), version="1", id="7")
    request = InferRequest("m", (), outputs=(RequestedOutput("y", binary),))
    body, header_length = encode_infer_response(response, request)
    result = httpclient.InferResult.from_response_body(body, header_length=header_length)
    got = result.as_numpy("y")
    want = SAMPLES[datatype]
    assert got.shape == want.shape
    if datatype is DataType.BYTES:
        # tritonclient hands JSON strings back as str, binary elements as bytes.
        items = [item.encode() if isinstance(item, str) else item for item in got.ravel().tolist()]
        assert items == want.ravel().tolist()
    else:
        assert got.dtype == want.dtype
        assert np.array_equal(got, want)


def test_tritonclient_reads_a_bf16_response_as_raw_bytes() -> None:
    response = InferResponse("m", (sample(DataType.BF16, "y"),))
    body, header_length = encode_infer_response(response, InferRequest("m", ()))
    assert header_length is not None
    result = httpclient.InferResult.from_response_body(body, header_length=header_length)
    assert result.get_output("y")["parameters"]["binary_data_size"] == 12
    assert body[header_length:] == SAMPLES[DataType.BF16].tobytes()


def test_tritonclient_naming_no_outputs_gets_them_all_binary() -> None:
    # With no outputs named, tritonclient sets the request parameter binary_data_output.
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        [_client_input(DataType.FP32, True)]
    )
    request = decode_infer_request(body, json_size, "m")
    assert request.parameters.get("binary_data_output") is True
    reply = InferResponse("m", (Tensor("y", DataType.FP32, (2, 3), SAMPLES[DataType.FP32]),))
    out, header_length = encode_infer_response(reply, request)
    assert header_length is not None
    assert len(out) == header_length + 24
    result = httpclient.InferResult.from_response_body(out, header_length=header_length)
    assert np.array_equal(result.as_numpy("y"), SAMPLES[DataType.FP32])
