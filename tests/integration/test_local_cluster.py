"""`loadmaster up / status / down` with real processes: etcd, the broker, the scheduler, two
agents and the gateway, driven only through the CLI, as a user would (issue: local cluster).

Every port is a free non-default one and the state dir and data dir are the test's own, so the
test neither collides with nor finds a cluster a developer has running. Admin commands get no
`--scheduler`: they must find the cluster through the "current cluster" pointer. The example
model spec is loaded unchanged; its relative `file://./.data/models/iris` resolves against the
directory `up` ran in, as the example promises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.cluster import IRIS_REQUEST, wait_until
from tests.integration.harness import ROOT, free_port, http_json

pytestmark = pytest.mark.integration

IRIS_SPEC = ROOT / "examples" / "models" / "iris.yaml"


class User:
    """Runs `loadmaster ...` in `work` with the test's own environment."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.data = work / "cluster-data"
        self.env = {k: v for k, v in os.environ.items() if k != "LOADMASTER_SCHEDULER"}
        self.env |= {
            "XDG_STATE_HOME": str(work / "state"),
            "LOADMASTER_DATA_DIR": str(self.data),
            "PYTHONUNBUFFERED": "1",
        }
        ports = {
            flag: free_port()
            for flag in ("gateway-http", "gateway-grpc", "admin", "agent", "metrics", "etcd",
                         "etcd-peer", "kafka")
        }  # fmt: skip
        self.gateway = f"http://127.0.0.1:{ports['gateway-http']}"
        self.ports = [
            text for flag, port in ports.items() for text in (f"--{flag}-port", str(port))
        ]

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "loadmaster.cli.main", *args]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args), cwd=self.work, env=self.env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(
                f"loadmaster {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n{self.logs()}"
            )
        return result

    def up_detached(self) -> None:
        result = self.run("up", "--detach", "--agents", "2", "--agent-memory", "1Gi", *self.ports)
        assert f"gateway REST: {self.gateway}" in result.stdout

    def record(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads((self.data / "cluster.json").read_text())
        return loaded

    def pids(self) -> list[int]:
        parts = self.record()["parts"]
        assert isinstance(parts, list)
        return [p["pid"] for p in parts if p["pid"] is not None]

    def logs(self) -> str:
        logs = self.data / "logs"
        if not logs.is_dir():
            return ""
        return "\n".join(
            f"--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            for log in sorted(logs.glob("*.log"))
        )


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def user(tmp_path: Path, models_dir: Path) -> Iterator[User]:
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "models").symlink_to(models_dir)
    user = User(tmp_path)
    yield user
    if (user.data / "cluster.json").exists():
        user.run("down", check=False)  # whatever a failed test left running


def infer_through_gateway(user: User) -> dict[str, object]:
    url = f"{user.gateway}/v2/models/iris/infer"
    status, body = wait_until(
        lambda: (reply := http_json("POST", url, IRIS_REQUEST))[0] == 200 and reply,
        30,
        "the gateway to route iris",
        user.logs,
    )
    assert status == 200
    answer: dict[str, object] = body
    return answer


def test_detached_cluster_serves_stops_and_comes_back_with_its_models(user: User) -> None:
    user.up_detached()
    assert user.run("status").returncode == 0
    assert user.run("model", "load", "-f", str(IRIS_SPEC)).stdout == (
        "model iris: version 1 (created)\n"
    )
    user.run("model", "status", "iris", "--wait", "ModelAvailable", "--timeout", "60")
    answer = infer_through_gateway(user)
    assert answer["model_name"] == "iris"

    pids = user.pids()
    assert len(pids) == 7  # etcd, kafka, scheduler, agent-1, agent-2, gateway, pipeline-worker-1
    user.run("down")
    assert [pid for pid in pids if alive(pid)] == []
    assert user.pids() == []
    assert not (user.work / "state" / "loadmaster" / "current.json").exists()
    assert user.run("status", check=False).returncode == 1

    user.up_detached()  # the same data dir: etcd still holds the model
    user.run("model", "status", "iris", "--wait", "ModelAvailable", "--timeout", "60")
    assert infer_through_gateway(user)["model_name"] == "iris"
    second = user.pids()
    user.run("down")
    assert [pid for pid in second if alive(pid)] == []


def test_foreground_cluster_stops_everything_on_sigterm(user: User) -> None:
    command = user.command("up", "--no-kafka", *user.ports)
    process = subprocess.Popen(
        command, cwd=user.work, env=user.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_until(
            lambda: process.poll() is None and user.run("status", check=False).returncode == 0,
            60,
            "the foreground cluster to be healthy",
            user.logs,
        )
        pids = user.pids()
        assert len(pids) == 4  # etcd, scheduler, agent-1, gateway
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "cluster up: 1 agent(s)" in out
    assert "stopping the cluster" in err
    assert [pid for pid in pids if alive(pid)] == []
    assert user.pids() == []
