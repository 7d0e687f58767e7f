"""Experiments on a real cluster: etcd, the scheduler as its own process, one agent.

Driven through the CLI as a user would: start from YAML, watch the state go from
ExperimentWaiting to ExperimentReady as the models load, kill -9 the scheduler and find the
experiment back with the same uid, then stop it. The gateway's side of the contract is checked
at the wire: the route table carries the experiment, and reported traffic shows in status.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from tests.integration.cluster import Cluster, cli, cli_json

pytestmark = pytest.mark.integration

EXPERIMENT = """\
apiVersion: mlops.seldon.io/v1alpha1
kind: Experiment
metadata: {name: iris-ab}
spec:
  default: iris
  resourceType: model
  candidates:
  - {name: iris, weight: 50}
  - {name: iris-v2, weight: 50}
"""


@pytest.fixture(scope="module")
def cluster(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("experiments"), models_dir)
    try:
        cluster.add_agent("a", "4Gi")
        yield cluster
    finally:
        cluster.close()


def status(cluster: Cluster) -> dict[str, Any]:
    result: dict[str, Any] = cli_json(
        "experiment", "status", "iris-ab", scheduler=cluster.scheduler.admin
    )
    return result


def test_experiment_lifecycle(cluster: Cluster) -> None:
    admin = cluster.scheduler.admin
    spec = cluster.work / "iris-ab.yaml"
    spec.write_text(EXPERIMENT)
    started = cli("experiment", "start", "-f", str(spec), scheduler=admin).stdout
    assert started.startswith("experiment iris-ab: uid ") and started.endswith("(started)\n")
    waiting = status(cluster)
    assert (waiting["state"], waiting["reason"]) == ("ExperimentWaiting", "missing: iris, iris-v2")
    uid = waiting["uid"]

    cluster.load("iris", "100Mi", 1)
    cluster.load("iris-v2", "100Mi", 1)
    ready = cli_json(
        "experiment", "status", "iris-ab", "--wait", "--timeout", "60", scheduler=admin
    )
    assert (ready["state"], ready["uid"], ready["reason"]) == ("ExperimentReady", uid, "")
    assert [(c["model"], c["ready"], c["expectedShare"]) for c in ready["candidates"]] == [
        ("iris", True, 0.5),
        ("iris-v2", True, 0.5),
    ]

    with grpc.insecure_channel(admin) as channel:
        stub = admin_pb2_grpc.SchedulerAdminStub(channel)
        table = next(iter(stub.SubscribeRoutes(pb.SubscribeRoutesRequest(gateway="test"))))
        assert [(r.spec.name, r.spec.default_model, r.uid) for r in table.experiments] == [
            ("iris-ab", "iris", uid)
        ]
        counts = [("iris", 30), ("iris-v2", 10)]
        traffic = [
            pb.ExperimentTraffic(experiment="iris-ab", uid=uid, model=m, requests=n)
            for m, n in counts
        ]
        stub.ReportTraffic(pb.TrafficReport(gateway="gw", instance="p1", traffic=traffic))
    counted = status(cluster)
    assert counted["totalRequests"] == 40
    assert [c["observedShare"] for c in counted["candidates"]] == [0.75, 0.25]

    cluster.scheduler.kill()
    cluster.scheduler.start()
    after = status(cluster)
    assert (after["uid"], after["default"]) == (uid, "iris")
    assert [c["model"] for c in after["candidates"]] == ["iris", "iris-v2"]
    again = cli("experiment", "start", "-f", str(spec), scheduler=admin).stdout
    assert again == f"experiment iris-ab: uid {uid} (unchanged)\n"
    ready_again = cli_json(
        "experiment", "status", "iris-ab", "--wait", "--timeout", "60", scheduler=admin
    )
    assert ready_again["state"] == "ExperimentReady"

    stopped = cli("experiment", "stop", "iris-ab", scheduler=admin)
    assert stopped.stdout == "experiment iris-ab: stopped\n"
    gone = cli("experiment", "status", "iris-ab", scheduler=admin, check=False)
    assert (gone.returncode, gone.stderr) == (1, "error: experiment 'iris-ab' not found\n")
    assert cli_json("experiment", "list", scheduler=admin) == []
