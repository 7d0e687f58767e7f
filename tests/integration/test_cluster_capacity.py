"""Three agents of unequal memory take models until capacity runs out (issue: scheduler).

Real etcd, a real scheduler process and real agents serving the iris model; every model is
driven through the `loadmaster` CLI. Agents: a 4Gi, b 2Gi, c 1Gi, one worker each, so a
replica costs exactly its `memory`. The expected outcome of each step is computed by hand in
the comments. Best-fit packing: among servers already in use, the one left with the least free
memory wins; an empty server ranks below those, and among empty servers the largest comes first
(what packing saves is servers); ties go to the earlier name. At most one replica of a version
per server.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import CAPS, Cluster, cli, cli_json, servers_of, wait_until

Gi = 2**30


@pytest.fixture(scope="module")
def cluster(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("capacity"), models_dir)
    try:
        cluster.add_agent("a", "4Gi")
        cluster.add_agent("b", "2Gi", caps=CAPS + ",special")
        cluster.add_agent("c", "1Gi")
        yield cluster
    finally:
        cluster.close()


def test_capacity_runs_out_and_comes_back(cluster: Cluster) -> None:
    # alpha 1Gi x2: every server is empty, so the largest two: a and b. Free: a 3, b 1, c 1.
    cluster.load("alpha", "1Gi", 2)
    alpha = cluster.settled("alpha", 2, "Full")
    assert servers_of(alpha) == ["a", "b"]
    assert alpha["state"] == "ModelAvailable"

    # beta 2Gi x2 (minReplicas 1): only a has 2Gi. Partial, 1 of 2. Free: a 1, b 1, c 1.
    cluster.load("beta", "2Gi", 2, "minReplicas: 1")
    beta = cluster.settled("beta", 1, "Partial")
    assert servers_of(beta) == ["a"]
    assert beta["state"] == "ModelAvailable"
    assert beta["reason"].startswith("1 of 2 replicas placed")

    # gamma 3Gi x1: the largest free is 1Gi. Failed, and nothing is loaded for it.
    cluster.load("gamma", "3Gi", 1)
    gamma = wait_until(
        lambda: (s := cluster.status("gamma"))["scheduling"] == "Failed" and s, 30, "gamma Failed"
    )
    assert gamma["state"] == "ScheduleFailed"
    assert "needs 3Gi per replica" in gamma["reason"], gamma["reason"]
    assert "largest free is 1Gi" in gamma["reason"], gamma["reason"]
    assert gamma["replicas"] == []
    assert cluster.server("a")["freeMemoryBytes"] == 1 * Gi

    # Unloading beta frees 2Gi on a, and the waiting gamma takes 3Gi there. Free: a 0, b 1, c 1.
    cli("model", "unload", "beta", scheduler=cluster.scheduler.admin)
    gamma = cluster.settled("gamma", 1, "Full")
    assert servers_of(gamma) == ["a"]
    wait_until(lambda: "beta" not in _model_names(cluster), 30, "beta to be gone")
    assert cluster.server("a")["freeMemoryBytes"] == 0

    # delta 1Gi needs capability `special`, which only b has. Free: a 0, b 0, c 1.
    cluster.load("delta", "1Gi", 1, "requirements: [special]")
    assert servers_of(cluster.settled("delta", 1, "Full")) == ["b"]

    # kill -9 b. After the heartbeat timeout b is Lost: alpha's replica moves to c (the only
    # server without alpha that has 1Gi), delta has nowhere to go.
    cluster.agents["b"].process.send_signal(signal.SIGKILL)
    cluster.agents["b"].process.wait()
    wait_until(lambda: cluster.server("b").get("state") == "Lost", 30, "b to be Lost")
    alpha = cluster.settled("alpha", 2, "Full")
    assert servers_of(alpha) == ["a", "c"]
    delta = wait_until(
        lambda: (s := cluster.status("delta"))["scheduling"] == "Failed" and s, 30, "delta Failed"
    )
    assert "capability special" in delta["reason"], delta["reason"]
    assert delta["availableReplicas"] == 0

    # A new agent with the capability turns delta Full again.
    cluster.add_agent("d", "2Gi", caps=CAPS + ",special")
    assert servers_of(cluster.settled("delta", 1, "Full")) == ["d"]
    assert servers_of(cluster.settled("alpha", 2, "Full")) == ["a", "c"]

    # The replicas the scheduler reports are really served: infer through the CLI.
    body = (
        '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}'
    )
    result = cli("infer", "delta", "-d", body, scheduler=cluster.scheduler.admin)
    assert '"outputs"' in result.stdout


def _model_names(cluster: Cluster) -> set[str]:
    return {m["name"] for m in cli_json("model", "list", scheduler=cluster.scheduler.admin)}
