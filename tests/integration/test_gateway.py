"""The gateway in front of a real cluster: one address that keeps answering (issue: gateway).

A scheduler (memory store), two agents and the gateway, each its own process. Traffic goes
only to the gateway; "zero failed requests" is a count the tests assert.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.clients.report import REPORT_PREFIX
from tests.integration.cluster import (
    IRIS_REQUEST,
    Cluster,
    GatewayProcess,
    Traffic,
    TritonGrpcTraffic,
    cli,
    servers_of,
    start_gateway,
    wait_until,
)
from tests.integration.harness import ROOT, http_json


@pytest.fixture(scope="module")
def cluster(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("gateway"), models_dir, etcd=False)
    try:
        cluster.add_agent("a", "4Gi")
        cluster.add_agent("b", "4Gi")
        cluster.load("iris", "1Gi", 2)
        cluster.settled("iris", 2, "Full")
        yield cluster
    finally:
        for name in ("iris", "huge"):  # an agent drains only once nothing needs it any more
            cli("model", "unload", name, scheduler=cluster.scheduler.admin, check=False)
        cluster.close()


@pytest.fixture(scope="module")
def gateway(cluster: Cluster) -> Iterator[GatewayProcess]:
    process = start_gateway(cluster.work, cluster.scheduler.admin)
    yield process
    process.stop()


def infer_url(gateway: GatewayProcess, model: str = "iris") -> str:
    return gateway.url(f"/v2/models/{model}/infer")


def wait_routed(gateway: GatewayProcess, model: str) -> None:
    wait_until(
        lambda: http_json("POST", infer_url(gateway, model), IRIS_REQUEST)[0] == 200,
        30,
        f"the gateway to route {model}",
        gateway.log,
    )


def test_tritonclient_through_the_gateway(gateway: GatewayProcess) -> None:
    wait_routed(gateway, "iris")
    command = [
        sys.executable, "-m", "tests.integration.clients.triton_iris",
        "--url", f"127.0.0.1:{gateway.http_port}", "--model", "iris", "--requests", "20",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.startswith(REPORT_PREFIX)]
    assert lines, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(lines[-1].removeprefix(REPORT_PREFIX))
    assert (report["live"], report["ready"], report["model_ready"]) == (True, True, True)
    assert report["classes"] == [[0, 2]] * 20  # setosa, virginica: the example's known answers
    assert "no-such-model" in report["unknown_model"]
    assert "not found" in report["unknown_model"]


def test_unknown_model_and_no_ready_replica_are_clear(
    cluster: Cluster, gateway: GatewayProcess
) -> None:
    status, body = http_json("POST", infer_url(gateway, "nope"), IRIS_REQUEST)
    assert (status, body) == (404, {"error": "model 'nope' not found"})
    cluster.load("huge", "64Gi", 1)
    wait_until(
        lambda: http_json("POST", infer_url(gateway, "huge"), IRIS_REQUEST)[0] == 503,
        30,
        "huge to be routed as unschedulable",
    )
    status, body = http_json("POST", infer_url(gateway, "huge"), IRIS_REQUEST)
    assert status == 503
    assert "has no ready replica" in body["error"]
    assert "needs 64Gi per replica" in body["error"]


def test_rollout_and_scaling_under_load_fail_no_request(
    cluster: Cluster, gateway: GatewayProcess
) -> None:
    wait_routed(gateway, "iris")
    copy = cluster.work / "iris-v2"
    shutil.copytree(cluster.iris, copy, dirs_exist_ok=True)
    grpc_traffic = TritonGrpcTraffic(gateway.grpc, cluster.work)
    with Traffic([infer_url(gateway)] * 2) as traffic, grpc_traffic:
        cluster.iris, original = copy, cluster.iris
        try:
            cluster.load("iris", "1Gi", 2)  # a new storageUri: version 2 rolls out
        finally:
            cluster.iris = original
        wait_until(
            lambda: (
                (s := cluster.status("iris"))["version"] == 2
                and {r["version"] for r in s["replicas"]} == {2}
                and s["availableReplicas"] == 2
            ),
            90,
            "version 2 to replace version 1",
            cluster.logs,
        )
        cluster.iris = copy
        try:
            cluster.load("iris", "1Gi", 1)  # scale down
            cluster.settled("iris", 1, "Full")
            cluster.load("iris", "1Gi", 2)  # and up again
            cluster.settled("iris", 2, "Full")
        finally:
            cluster.iris = original
    assert traffic.failures == []
    assert traffic.ok > 0
    assert grpc_traffic.failures == []  # tritonclient over gRPC saw no error either
    assert grpc_traffic.ok > 0


def test_an_agent_killed_under_load_fails_no_request_while_a_replica_remains(
    cluster: Cluster, gateway: GatewayProcess
) -> None:
    status = cluster.settled("iris", 2, "Full")
    assert servers_of(status) == ["a", "b"]
    with Traffic([infer_url(gateway)] * 2) as traffic:
        victim = cluster.agents["b"].process
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        wait_until(lambda: cluster.server("b").get("state") == "Lost", 30, "b to be Lost")
    assert traffic.failures == []
    assert traffic.ok > 0
