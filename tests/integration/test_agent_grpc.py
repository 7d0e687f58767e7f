"""The agent's gRPC data plane with our own generated stubs (third-party clients run elsewhere)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.generated.inference import grpc_service_pb2_grpc as pb_grpc
from tests.integration.harness import AgentProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stub(agent: AgentProcess) -> Iterator[pb_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(agent.grpc_target) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def iris_request(rows: np.ndarray, raw: bool) -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input", datatype="FP32", shape=list(rows.shape)
    )
    request = pb.ModelInferRequest(model_name="iris", id="req-1")
    if raw:
        request.raw_input_contents.append(rows.tobytes())
    else:
        tensor.contents.fp32_contents.extend(rows.ravel().tolist())
    request.inputs.append(tensor)
    return request


def test_health_and_metadata(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert "binary_tensor_data" in stub.ServerMetadata(pb.ServerMetadataRequest()).extensions
    meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="iris"))
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [
        ("input", "FP32", [-1, 4])
    ]
    assert meta.parameters["device"].string_param == "cpu"
    assert stub.ModelReady(pb.ModelReadyRequest(name="iris")).ready


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
def test_infer_answers_with_raw_output_contents(
    stub: pb_grpc.GRPCInferenceServiceStub, raw: bool
) -> None:
    rows = np.random.default_rng(5).random((2, 4), dtype=np.float32)
    response = stub.ModelInfer(iris_request(rows, raw))
    assert response.id == "req-1"
    assert [list(o.shape) for o in response.outputs] == [[2, 3]]
    probabilities = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), [1.0, 1.0], rtol=1e-5)


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (pb.ModelInferRequest(model_name="nope"), grpc.StatusCode.NOT_FOUND),
        (
            pb.ModelInferRequest(
                model_name="iris",
                inputs=[
                    pb.ModelInferRequest.InferInputTensor(
                        name="input", datatype="FP32", shape=[10**9, 4]
                    )
                ],
                raw_input_contents=[b"\0" * 16],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.ModelInferRequest(
                model_name="iris",
                inputs=[
                    pb.ModelInferRequest.InferInputTensor(
                        name="input", datatype="FP16", shape=[1, 4]
                    )
                ],
                raw_input_contents=[b"\0" * 8],
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
    ids=["unknown model", "forged shape", "wrong datatype"],
)
def test_errors_map_to_status_codes(
    stub: pb_grpc.GRPCInferenceServiceStub, request_: pb.ModelInferRequest, code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(request_)
    assert raised.value.code() == code
    assert raised.value.details()


def test_stream_infer_answers_in_parts(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    tensor = pb.ModelInferRequest.InferInputTensor(name="text", datatype="BYTES", shape=[2])
    tensor.contents.bytes_contents.extend([b"x", b"yz"])
    good = pb.ModelInferRequest(model_name="echo-stream", inputs=[tensor])
    bad = pb.ModelInferRequest(model_name="missing")
    replies = list(stub.ModelStreamInfer(iter([good, bad])))
    assert len(replies) == 3
    texts = [r.infer_response.raw_output_contents[0] for r in replies[:2]]
    assert texts == [b"\x01\x00\x00\x00x", b"\x02\x00\x00\x00yz"]
    assert "not found" in replies[2].error_message


def test_repository_index_lists_models(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    index = stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True))
    ready = {m.name for m in index.models if m.state == "READY"}
    assert {"iris", "mlp", "identity"} <= ready
