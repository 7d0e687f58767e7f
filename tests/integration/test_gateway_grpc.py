"""The gateway's gRPC front door and streaming, in front of a real cluster.

A scheduler (memory store), one agent and the gateway, each its own process, serving `iris`,
the example `echo-stream` and the conftest's `sleepy` (it sleeps for its input's first value,
in seconds). tritonclient talks gRPC to the gateway from its own process; REST streaming and
deadlines are checked with plain HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.clients.report import REPORT_PREFIX
from tests.integration.cluster import Cluster, GatewayProcess, cli, start_gateway, wait_until
from tests.integration.harness import ROOT, http_json

MODELS = ("iris", "echo-stream", "sleepy")
STREAM_TEXTS = ["alpha", "\u03b2\u00eata", "gamma"]


def load(cluster: Cluster, name: str, path: Path) -> None:
    spec = cluster.work / f"{name}.yaml"
    spec.write_text(
        "apiVersion: loadmaster.io/v1alpha1\nkind: Model\n"
        f"metadata: {{name: {name}}}\nspec:\n  storageUri: {path}\n  memory: 256Mi\n"
    )
    cli("model", "load", "-f", str(spec), scheduler=cluster.scheduler.admin)


@pytest.fixture(scope="module")
def cluster(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("gateway-grpc"), models_dir, etcd=False)
    try:
        cluster.add_agent("a", "4Gi")
        cluster.load("iris", "1Gi", 1)
        load(cluster, "echo-stream", models_dir / "echo-stream")
        load(cluster, "sleepy", models_dir / "sleepy")
        for name in MODELS:
            cluster.settled(name, 1, "Full")
        yield cluster
    finally:
        for name in MODELS:  # a lone agent drains only once nothing needs it any more
            cli("model", "unload", name, scheduler=cluster.scheduler.admin, check=False)
        cluster.close()


@pytest.fixture(scope="module")
def gateway(cluster: Cluster) -> Iterator[GatewayProcess]:
    process = start_gateway(cluster.work, cluster.scheduler.admin)
    try:
        wait_until(
            lambda: all(
                http_json("GET", process.url(f"/v2/models/{name}/ready"))[0] == 200
                for name in MODELS
            ),
            30,
            "the gateway to route every model",
            process.log,
        )
        yield process
    finally:
        process.stop()


def grpc_address(gateway: GatewayProcess) -> str:
    """The gRPC address the gateway says it serves on, from its start-up log line."""
    for line in gateway.log().splitlines():
        if line.startswith("{") and json.loads(line).get("event") == "gateway serving":
            return str(json.loads(line)["grpc"])
    raise AssertionError(f"no 'gateway serving' line in the log:\n{gateway.log()}")


@pytest.fixture(scope="module")
def triton_grpc(gateway: GatewayProcess) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "tests.integration.clients.triton_gateway_grpc",
        "--grpc", grpc_address(gateway), "--requests", "20",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.startswith(REPORT_PREFIX)]
    assert lines, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(lines[-1].removeprefix(REPORT_PREFIX))
    return report


def test_tritonclient_grpc_infers_through_the_gateway(triton_grpc: dict[str, Any]) -> None:
    assert triton_grpc["health"] == {
        "live": True,
        "ready": True,
        "iris_ready": True,
        "server": "loadmaster-gateway",
    }
    assert triton_grpc["metadata"] == "iris"  # from the agent, through the gateway
    assert triton_grpc["classes"] == [[0, 2]] * 20  # setosa, virginica
    assert triton_grpc["unknown_model"] == {
        "status": "StatusCode.NOT_FOUND",
        "message": "model 'nope' not found",
    }
    repository = triton_grpc["repository"]
    assert repository["status"] == "StatusCode.UNIMPLEMENTED"
    assert "loadmaster model load" in repository["message"]


def test_tritonclient_grpc_stream_through_the_gateway(triton_grpc: dict[str, Any]) -> None:
    replies = triton_grpc["stream"]
    # one model's answers keep their order; the gateway's own error may come at any point
    assert [r for r in replies if "id" in r] == [
        *({"id": "first", "text": [text]} for text in STREAM_TEXTS),
        {"id": "second", "text": ["x"]},
        {"id": "second", "text": ["yz"]},
    ]
    assert [r for r in replies if "error" in r] == [{"error": "model 'nope' not found"}]


def test_grpc_client_deadline_is_a_clear_error(triton_grpc: dict[str, Any]) -> None:
    deadline = triton_grpc["deadline"]
    assert deadline["status"] == "StatusCode.DEADLINE_EXCEEDED", deadline
    assert "exceeded waiting for model 'sleepy'" in deadline["message"], deadline


def test_rest_infer_stream_through_the_gateway(gateway: GatewayProcess) -> None:
    payload = {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": STREAM_TEXTS}]
    }
    request = urllib.request.Request(
        gateway.url("/v2/models/echo-stream/infer_stream"),
        data=json.dumps(payload).encode(),
        headers={"x-request-id": "sse-1"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["x-request-id"] == "sse-1"
        events = [
            line[6:] for line in response.read().decode().splitlines() if line.startswith("data: ")
        ]
    assert [json.loads(e)["outputs"][0]["data"] for e in events] == [[t] for t in STREAM_TEXTS]


def test_rest_deadline_is_a_clear_504(gateway: GatewayProcess) -> None:
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.5]}]}
    request = urllib.request.Request(
        gateway.url("/v2/models/sleepy/infer"),
        data=json.dumps(body).encode(),
        headers={"x-request-timeout-ms": "300"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 504
    assert json.loads(info.value.read()) == {
        "error": "deadline of 300 ms exceeded waiting for model 'sleepy'"
    }
