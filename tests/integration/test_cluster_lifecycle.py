"""Scheduler restart, version roll and agent drain on a real cluster (issue: scheduler).

Real etcd, scheduler and agents. A client thread sends inference requests straight to the
agents the whole time, so "keeps serving" is measured as zero failed requests, not assumed.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster import Cluster, Traffic, servers_of, wait_until
from tests.integration.harness import AgentProcess


@pytest.fixture(scope="module")
def cluster(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("lifecycle"), models_dir)
    try:
        cluster.add_agent("a", "4Gi")
        cluster.add_agent("b", "4Gi")
        yield cluster
    finally:
        cluster.close()


def loads_logged(agent: AgentProcess) -> int:
    """How many times the agent made a model version Available, from its JSON log."""
    count = 0
    for line in agent.log().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        count += record.get("event") == "model available"
    return count


def test_scheduler_kill_9_and_restart_reloads_nothing(cluster: Cluster) -> None:
    cluster.load("iris", "1Gi", 2)
    assert servers_of(cluster.settled("iris", 2, "Full")) == ["a", "b"]
    agents = [cluster.agents["a"], cluster.agents["b"]]
    loads_before = [loads_logged(a) for a in agents]
    assert loads_before == [1, 1]  # each agent loaded iris once, so a reload would show
    with Traffic([a.url("/v2/models/iris/infer") for a in agents]) as traffic:
        cluster.scheduler.kill()
        cluster.scheduler.start()
        status = cluster.settled("iris", 2, "Full")
        assert {s["state"] for s in cluster.servers().values()} == {"Ready"}
    assert traffic.failures == []
    assert traffic.ok > 0
    assert servers_of(status) == ["a", "b"]
    assert status["version"] == 1
    assert [loads_logged(a) for a in agents] == loads_before


def test_new_version_rolls_while_model_stays_available(cluster: Cluster) -> None:
    states: list[str] = []
    agents = [cluster.agents["a"], cluster.agents["b"]]
    copy = cluster.work / "iris-v2"
    shutil.copytree(cluster.iris, copy, dirs_exist_ok=True)
    with Traffic([a.url("/v2/models/iris/infer") for a in agents]) as traffic:
        cluster.iris, original = copy, cluster.iris
        try:
            cluster.load("iris", "1Gi", 2)
        finally:
            cluster.iris = original

        def rolled() -> dict[str, Any] | None:
            status = cluster.status("iris")
            states.append(status["state"])
            versions = {r["version"] for r in status["replicas"]}
            done = status["version"] == 2 and status["availableReplicas"] == 2
            return status if done and versions == {2} else None

        wait_until(rolled, 60, "iris to roll to version 2", cluster.logs)
    assert set(states) == {"ModelAvailable"}
    assert traffic.failures == []
    assert traffic.ok > 0


def drain_outcome(agent: AgentProcess) -> str | None:
    for line in agent.log().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "drain finished":
            return str(record.get("outcome"))
    return None


def test_sigterm_drains_an_agent_only_after_its_replicas_serve_elsewhere(cluster: Cluster) -> None:
    cluster.add_agent("c", "4Gi")
    before = cluster.settled("iris", 2, "Full")
    assert servers_of(before) == ["a", "b"]  # c is empty: nothing moves until a drains
    leaving = cluster.agents["a"]
    leaving.process.send_signal(signal.SIGTERM)
    assert leaving.process.wait(timeout=60) == 0
    assert drain_outcome(leaving) == "drained", leaving.log()[-3000:]
    # The agent exited only once its replacement was Available: the model never dipped.
    after = cluster.status("iris")
    assert servers_of(after) == ["b", "c"]
    assert after["availableReplicas"] == 2
    assert after["state"] == "ModelAvailable"
    wait_until(lambda: cluster.server("a").get("state") == "Lost", 30, "a to be gone")
