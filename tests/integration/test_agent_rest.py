"""The agent's REST data plane, against a real agent process with real torch models."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.integration.harness import AgentProcess, http_json

pytestmark = pytest.mark.integration


def iris_reference(models_dir: Path, rows: np.ndarray) -> np.ndarray:
    module = torch.jit.load(str(models_dir / "iris" / "model.pt"))  # type: ignore[no-untyped-call]
    with torch.inference_mode():
        result: np.ndarray = module(torch.from_numpy(rows)).numpy()
    return result


def infer_json(agent: AgentProcess, model: str, payload: Any) -> tuple[int, Any]:
    return http_json("POST", agent.url(f"/v2/models/{model}/infer"), json.dumps(payload).encode())


def iris_payload(rows: np.ndarray) -> dict[str, object]:
    return {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": list(rows.shape),
                "data": rows.ravel().tolist(),
            }
        ]
    }


def test_health_answers_json_bodies(agent: AgentProcess) -> None:
    assert http_json("GET", agent.url("/v2/health/live")) == (200, {"live": True})
    assert http_json("GET", agent.url("/v2/health/ready")) == (200, {"ready": True})


def test_server_metadata_lists_extensions(agent: AgentProcess) -> None:
    status, body = http_json("GET", agent.url("/v2"))
    assert status == 200
    assert body["name"] == "loadmaster"
    assert "binary_tensor_data" in body["extensions"]


def test_model_metadata_declares_tensors_and_memory(agent: AgentProcess) -> None:
    status, body = http_json("GET", agent.url("/v2/models/iris"))
    assert status == 200
    assert body["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert body["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]
    parameters = body["parameters"]
    assert isinstance(parameters, dict)
    assert isinstance(parameters["memory_rss_bytes"], int)
    assert parameters["device"] == "cpu"
    version = body["versions"][0]
    assert http_json("GET", agent.url(f"/v2/models/iris/versions/{version}"))[0] == 200
    assert http_json("GET", agent.url(f"/v2/models/iris/versions/{version}/ready"))[0] == 200


def test_json_inference_matches_the_model(agent: AgentProcess, models_dir: Path) -> None:
    rows = np.random.default_rng(1).random((3, 4), dtype=np.float32)
    status, body = infer_json(agent, "iris", iris_payload(rows))
    assert status == 200, body
    output = body["outputs"][0]
    assert output["name"] == "probabilities" and output["shape"] == [3, 3]
    got = np.asarray(output["data"], dtype=np.float32).reshape(3, 3)
    np.testing.assert_allclose(got, iris_reference(models_dir, rows), rtol=1e-5)


def test_binary_inference_matches_the_model(agent: AgentProcess, models_dir: Path) -> None:
    import urllib.request

    rows = np.random.default_rng(2).random((2, 4), dtype=np.float32)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [2, 4],
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    ).encode()
    request = urllib.request.Request(
        agent.url("/v2/models/iris/infer"),
        data=header + rows.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        length = int(response.headers["Inference-Header-Content-Length"])
        body = response.read()
    meta = json.loads(body[:length])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 2 * 3 * 4
    got = np.frombuffer(body[length:], dtype="<f4").reshape(2, 3)
    np.testing.assert_allclose(got, iris_reference(models_dir, rows), rtol=1e-5)


def test_concurrent_requests_are_batched_with_the_same_answers(
    agent: AgentProcess, models_dir: Path
) -> None:
    rng = np.random.default_rng(3)
    inputs = [rng.random((1, 4), dtype=np.float32) for _ in range(48)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda rows: infer_json(agent, "iris", iris_payload(rows)), inputs))
    for rows, (status, body) in zip(inputs, results, strict=True):
        assert status == 200, body
        got = np.asarray(body["outputs"][0]["data"], dtype=np.float32).reshape(1, 3)
        np.testing.assert_allclose(got, iris_reference(models_dir, rows), rtol=1e-5)


def request_body(inputs: list[dict[str, Any]]) -> bytes:
    return json.dumps({"inputs": inputs}).encode()


FORGED = {"name": "input", "datatype": "FP32", "shape": [10**11, 4], "data": [1, 2, 3, 4]}
WRONG_TYPE = {"name": "input", "datatype": "INT64", "shape": [1, 4], "data": [1, 2, 3, 4]}
WRONG_SHAPE = {"name": "input", "datatype": "FP32", "shape": [1, 5], "data": [1, 2, 3, 4, 5]}
BINARY = {
    "name": "input",
    "datatype": "FP32",
    "shape": [1, 4],
    "parameters": {"binary_data_size": 16},
}
BAD_REQUESTS = [
    ("unknown model", "/v2/models/nope/infer", b'{"inputs": []}', {}, 404, "not found"),
    ("malformed JSON", "/v2/models/iris/infer", b"{not json", {}, 400, "JSON"),
    ("missing inputs", "/v2/models/iris/infer", b"{}", {}, 400, "inputs"),
    (
        "forged shape",
        "/v2/models/iris/infer",
        request_body([FORGED]),
        {},
        400,
        "input",
    ),
    (
        "wrong datatype",
        "/v2/models/iris/infer",
        request_body([WRONG_TYPE]),
        {},
        400,
        "FP32",
    ),
    (
        "wrong shape",
        "/v2/models/iris/infer",
        request_body([WRONG_SHAPE]),
        {},
        400,
        "shape",
    ),
    (
        "binary framing beyond the body",
        "/v2/models/iris/infer",
        request_body([BINARY]),
        {"Inference-Header-Content-Length": "9999"},
        400,
        "",
    ),
    ("body over the limit", "/v2/models/iris/infer", b"x" * (2 * 2**20), {}, 413, "limit"),
    ("load of a missing model", "/v2/repository/models/absent/load", b"", {}, 404, "absent"),
    ("bad model name", "/v2/repository/models/..%2Fetc/load", b"", {}, 400, "invalid model name"),
]


@pytest.mark.parametrize(
    ("case", "path", "body", "headers", "status", "text"),
    BAD_REQUESTS,
    ids=[c[0] for c in BAD_REQUESTS],
)
def test_bad_input_gets_a_clear_error_and_the_server_keeps_serving(
    agent: AgentProcess,
    case: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    text: str,
) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(agent.url(path), data=body, headers=headers, method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == status
    error = json.loads(raised.value.read())["error"]
    assert text.lower() in error.lower()
    assert http_json("GET", agent.url("/v2/health/ready"))[0] == 200


def test_repository_index_load_and_unload(agent: AgentProcess, models_dir: Path) -> None:
    status, index = http_json("POST", agent.url("/v2/repository/index"), b"")
    assert status == 200
    names = {entry["name"] for entry in index}
    assert {"iris", "mlp", "identity"} <= names
    uri = f"file://{models_dir / 'identity'}"
    body = json.dumps({"parameters": {"storage_uri": uri}}).encode()
    assert http_json("POST", agent.url("/v2/repository/models/copy/load"), body)[0] == 200
    payload = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2], "data": [1.5, 2.5]}]
    }
    status, result = infer_json(agent, "copy", payload)
    assert status == 200 and result["outputs"][0]["data"] == [1.5, 2.5]
    assert http_json("POST", agent.url("/v2/repository/models/copy/unload"), b"")[0] == 200
    assert infer_json(agent, "copy", payload)[0] == 404


def test_streaming_answers_in_parts_over_sse(agent: AgentProcess) -> None:
    import urllib.request

    payload = {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": ["a", "bb", "ccc"]}]
    }
    request = urllib.request.Request(
        agent.url("/v2/models/echo-stream/infer_stream"),
        data=json.dumps(payload).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [
            line[6:] for line in response.read().decode().splitlines() if line.startswith("data: ")
        ]
    parts = [json.loads(e)["outputs"][0]["data"] for e in events]
    assert parts == [["a"], ["bb"], ["ccc"]]


def test_metrics_count_requests_per_model(agent: AgentProcess) -> None:
    import urllib.request

    infer_json(agent, "iris", iris_payload(np.zeros((1, 4), dtype=np.float32)))
    with urllib.request.urlopen(agent.url("/metrics"), timeout=30) as response:
        text = response.read().decode()
    assert 'loadmaster_agent_requests_total{model="iris",outcome="ok"}' in text
    assert 'loadmaster_agent_model_load_seconds{model="iris",phase="deserialize"}' in text
    assert "loadmaster_agent_request_seconds_bucket" in text
