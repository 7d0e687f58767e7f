"""The admin commands end to end: `main([...])` over real gRPC to a fake scheduler.

What is checked is what users and scripts read: the lines printed, the JSON keys, the exit
statuses (0 done, 1 failed, 2 bad input) and `error: ...` messages without tracebacks.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadmaster.cli.main import main
from loadmaster.generated.scheduler.v1 import admin_pb2
from tests.loadmaster.cli.harness import Cli, write
from tests.loadmaster.client.fakes import (
    REJECTED_URI,
    FakeAgent,
    FakeScheduler,
    start_http,
)

IRIS = """\
apiVersion: loadmaster.io/v1alpha1
kind: Model
metadata: {name: iris}
spec:
  storageUri: file:///models/iris
  memory: 100Mi
  replicas: %d
"""
MLP = """\
apiVersion: mlops.seldon.io/v1alpha1
kind: Model
metadata: {name: mlp}
spec: {storageUri: file:///models/mlp}
"""


@pytest.fixture
def agent() -> Iterator[tuple[FakeAgent, str]]:
    fake_agent = FakeAgent()
    httpd, endpoint = start_http(fake_agent)
    yield fake_agent, endpoint
    httpd.shutdown()
    httpd.server_close()


def test_load_reports_created_unchanged_updated(cli: Cli, tmp_path: Path) -> None:
    both = write(tmp_path, "both.yaml", IRIS % 1 + "---\n" + MLP)
    assert cli("model", "load", "-f", both) == (
        0,
        "model iris: version 1 (created)\nmodel mlp: version 1 (created)\n",
        "",
    )
    assert cli("model", "load", "-f", both)[1] == (
        "model iris: version 1 (unchanged)\nmodel mlp: version 1 (unchanged)\n"
    )
    scaled = write(tmp_path, "iris.yaml", IRIS % 3)
    assert cli.json("model", "load", "-f", scaled) == [
        {"name": "iris", "version": 1, "result": "updated"}
    ]


def test_load_reads_stdin(cli: Cli, fake: FakeScheduler, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(MLP))
    assert cli("model", "load", "-f", "-")[:2] == (0, "model mlp: version 1 (created)\n")
    assert fake.models["mlp"].spec.storage_uri == "file:///models/mlp"


def test_invalid_spec_is_exit_2_and_loads_nothing(
    cli: Cli, fake: FakeScheduler, tmp_path: Path
) -> None:
    bad = write(tmp_path, "bad.yaml", MLP + "---\n" + (IRIS % 1).replace("replicas", "replcas"))
    status, out, err = cli("model", "load", "-f", bad)
    assert (status, out) == (2, "")
    assert err == (
        f"error: {bad}: document 2 (Model iris): spec.replcas: unknown field "
        "(did you mean replicas?)\n"
    )
    assert fake.models == {}


def test_spec_refused_by_the_scheduler_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    refused = write(tmp_path, "r.yaml", MLP.replace("file:///models/mlp", REJECTED_URI))
    status, out, err = cli("model", "load", "-f", refused, "-f", write(tmp_path, "i", IRIS % 1))
    assert status == 2
    assert out == "model iris: version 1 (created)\n"
    assert err == "error: spec.storageUri: scheme refused\n"


def test_missing_file_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    status, _, err = cli("model", "load", "-f", str(tmp_path / "nope.yaml"))
    assert (status, err) == (2, f"error: {tmp_path / 'nope.yaml'}: no such file\n")


def test_status_json_keys_and_table(cli: Cli, fake: FakeScheduler, tmp_path: Path) -> None:
    cli("model", "load", "-f", write(tmp_path, "i.yaml", IRIS % 2))
    replica = admin_pb2.ReplicaStatus(server="a", state="Available", version=1, model="iris")
    fake.set_state("iris", "ModelProgressing", "one of 2 loaded", [replica])
    status = cli.json("model", "status", "iris")
    assert list(status) == [
        "name",
        "version",
        "state",
        "scheduling",
        "desiredReplicas",
        "availableReplicas",
        "reason",
        "replicas",
    ]
    assert status["replicas"] == [{"server": "a", "state": "Available", "version": 1, "reason": ""}]
    code, out, _ = cli("model", "status", "iris")
    assert code == 0
    assert out.splitlines() == [
        "name:       iris",
        "version:    1",
        "state:      ModelProgressing",
        "scheduling: Full",
        "replicas:   1/2 available",
        "reason:     one of 2 loaded",
        "",
        "SERVER  STATE      VERSION  REASON",
        "a       Available  1        -",
    ]


def test_status_of_unknown_model_is_exit_1(cli: Cli) -> None:
    assert cli("model", "status", "nope") == (1, "", "error: model nope not found\n")


def test_wait_returns_once_the_state_comes(cli: Cli, fake: FakeScheduler, tmp_path: Path) -> None:
    cli("model", "load", "-f", write(tmp_path, "i.yaml", IRIS % 1))
    timer = threading.Timer(0.2, fake.set_state, ("iris", "ModelAvailable"))
    timer.start()
    try:
        status = cli.json("model", "status", "iris", "--wait", "ModelAvailable", "--timeout", "10")
    finally:
        timer.cancel()
    assert status["state"] == "ModelAvailable"


def test_wait_timeout_is_exit_1_with_the_last_state(
    cli: Cli, fake: FakeScheduler, tmp_path: Path
) -> None:
    cli("model", "load", "-f", write(tmp_path, "i.yaml", IRIS % 1))
    fake.set_state("iris", "ScheduleFailed", "no server with capability gpu")
    status, out, err = cli(
        "model", "status", "iris", "--wait", "ModelAvailable", "--timeout", "0.3"
    )
    assert (status, out) == (1, "")
    assert err == (
        "error: model iris did not reach ModelAvailable within 0.3s; last state ScheduleFailed "
        "(no server with capability gpu)\n"
    )


def test_wait_stops_at_once_when_the_model_failed(
    cli: Cli, fake: FakeScheduler, tmp_path: Path
) -> None:
    cli("model", "load", "-f", write(tmp_path, "i.yaml", IRIS % 1))
    timer = threading.Timer(0.2, fake.set_state, ("iris", "ModelFailed", "load failed on a"))
    timer.start()
    try:
        # The timeout is far away: only the failure can end this wait within the test's time.
        status, out, err = cli(
            "model", "status", "iris", "--wait", "ModelAvailable", "--timeout", "600"
        )
    finally:
        timer.cancel()
    assert (status, out) == (1, "")
    assert err == "error: model iris is ModelFailed: load failed on a\n"


def test_wait_for_an_unknown_state_is_a_usage_error(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("model", "status", "iris", "--wait", "Ready")
    assert exited.value.code == 2
    assert "invalid choice: 'Ready'" in capsys.readouterr().err


def test_model_list_and_unload(cli: Cli, fake: FakeScheduler, tmp_path: Path) -> None:
    assert cli("model", "list") == (0, "", "no models\n")
    cli("model", "load", "-f", write(tmp_path, "m.yaml", MLP + "---\n" + IRIS % 2))
    fake.set_state("mlp", "ModelAvailable")
    assert cli("model", "list")[1].splitlines() == [
        "NAME  VERSION  STATE             SCHEDULING  AVAILABLE  REASON",
        "iris  1        ModelProgressing  Full        0/2        -",
        "mlp   1        ModelAvailable    Full        0/1        -",
    ]
    assert [m["name"] for m in cli.json("model", "list")] == ["iris", "mlp"]
    assert cli("model", "unload", "mlp") == (0, "model mlp: unloading\n", "")
    assert fake.unloaded == ["mlp"]
    assert cli("model", "unload", "nope") == (1, "", "error: model nope not found\n")


def _server(name: str, http: str, models: list[str]) -> admin_pb2.ServerStatusResponse:
    return admin_pb2.ServerStatusResponse(
        name=name,
        state="Ready",
        pool="cpu",
        http_endpoint=http,
        grpc_endpoint="127.0.0.1:1",
        memory_bytes=4 * 2**30,
        free_memory_bytes=3 * 2**30,
        parallel_workers=2,
        capabilities=["torch"],
        loaded=[
            admin_pb2.ReplicaStatus(server=name, model=m, version=1, state="Available")
            for m in models
        ],
    )


def test_server_list_and_status(cli: Cli, fake: FakeScheduler) -> None:
    assert cli("server", "list") == (0, "", "no servers\n")
    fake.servers["b"] = _server("b", "127.0.0.1:9001", [])
    fake.servers["a"] = _server("a", "127.0.0.1:9000", ["iris"])
    assert cli("server", "list")[1].splitlines() == [
        "NAME  STATE  POOL  MEMORY  FREE  WORKERS  GPUS  MODELS  HTTP",
        "a     Ready  cpu   4Gi     3Gi   2        0     1       127.0.0.1:9000",
        "b     Ready  cpu   4Gi     3Gi   2        0     0       127.0.0.1:9001",
    ]
    servers = cli.json("server", "list")
    assert [s["name"] for s in servers] == ["a", "b"]
    assert servers[0]["endpoints"] == {"http": "127.0.0.1:9000", "grpc": "127.0.0.1:1"}
    assert servers[0]["models"] == [{"model": "iris", "version": 1, "state": "Available"}]
    code, out, _ = cli("server", "status", "a")
    assert code == 0
    assert "memory:       3Gi free of 4Gi" in out.splitlines()
    assert out.splitlines()[-2:] == [
        "MODEL  VERSION  STATE      REASON",
        "iris   1        Available  -",
    ]
    assert cli("server", "status", "zz") == (1, "", "error: server zz not found\n")


def test_unreachable_scheduler(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    cli = Cli(closed, capsys)
    status, out, err = cli("model", "list")
    assert (status, out) == (1, "")
    assert err.startswith(f"error: cannot reach the scheduler at {closed} (")
    assert err.endswith(
        "): is `loadmaster scheduler` running? set --scheduler or LOADMASTER_SCHEDULER\n"
    )


def test_scheduler_address_from_the_environment(
    address: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOADMASTER_SCHEDULER", address)
    assert main(["model", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def _serving(fake: FakeScheduler, endpoint: str, tmp_path: Path, cli: Cli) -> None:
    cli("model", "load", "-f", write(tmp_path, "i.yaml", IRIS % 1))
    fake.servers["dead"] = _server("dead", "127.0.0.1:1", ["iris"])
    fake.servers["a"] = _server("a", endpoint, ["iris"])
    replicas = [
        admin_pb2.ReplicaStatus(server="b", state="Loading", version=1),
        admin_pb2.ReplicaStatus(server="dead", state="Available", version=1),
        admin_pb2.ReplicaStatus(server="a", state="Available", version=1),
    ]
    fake.set_state("iris", "ModelAvailable", replicas=replicas)


REQUEST = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


def test_infer_posts_to_an_available_replica(
    cli: Cli, fake: FakeScheduler, agent: tuple[FakeAgent, str], tmp_path: Path
) -> None:
    fake_agent, endpoint = agent
    _serving(fake, endpoint, tmp_path, cli)
    status, out, err = cli("infer", "iris", "-d", json.dumps(REQUEST))
    assert status == 0, err
    assert json.loads(out) == {
        "model_name": "iris",
        "outputs": [{"name": "input", "datatype": "FP32", "shape": [1], "data": [0.5]}],
    }
    assert out.startswith('{\n  "model_name"')
    assert fake_agent.requests == [("/v2/models/iris/infer", REQUEST)]
    body = write(tmp_path, "req.json", json.dumps(REQUEST))
    assert cli("infer", "iris", "-d", f"@{body}")[0] == 0


def test_infer_agent_error(
    cli: Cli, fake: FakeScheduler, agent: tuple[FakeAgent, str], tmp_path: Path
) -> None:
    fake_agent, endpoint = agent
    _serving(fake, endpoint, tmp_path, cli)
    fake_agent.errors["iris"] = (400, "input 'input' has shape [1, 4], expected [-1, 3]")
    assert cli("infer", "iris", "-d", json.dumps(REQUEST)) == (
        1,
        "",
        f"error: the agent at {endpoint} answered 400: input 'input' has shape [1, 4], "
        "expected [-1, 3]\n",
    )


def test_infer_without_an_available_replica(cli: Cli, fake: FakeScheduler, tmp_path: Path) -> None:
    cli("model", "load", "-f", write(tmp_path, "i.yaml", IRIS % 1))
    fake.set_state("iris", "ScheduleFailed", "needs 2Gi, largest free 1.5Gi")
    assert cli("infer", "iris", "-d", json.dumps(REQUEST)) == (
        1,
        "",
        "error: model iris has no available replica (state ScheduleFailed: needs 2Gi, "
        "largest free 1.5Gi)\n",
    )
    assert cli("infer", "nope", "-d", "{}") == (1, "", "error: model nope not found\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "error: -d: invalid JSON: Expecting property name enclosed in double quotes"),
        ("[1]", "error: -d: an OIP request is a JSON object with `inputs`"),
        ("@/no/such/file.json", "error: -d @/no/such/file.json: cannot read:"),
    ],
)
def test_infer_bad_request_body_is_exit_2(cli: Cli, data: str, message: str) -> None:
    status, out, err = cli("infer", "iris", "-d", data)
    assert (status, out) == (2, "")
    assert err.startswith(message)


def test_scheduler_flags_become_the_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scheduler.config import SchedulerConfig
    from scheduler.placement import Packing

    seen: list[SchedulerConfig] = []

    def run(config: SchedulerConfig) -> int:
        seen.append(config)
        return 0

    fake_main = types.ModuleType("scheduler.main")
    fake_main.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "scheduler.main", fake_main)
    args = ["scheduler", "--admin-port", "19004", "--heartbeat-timeout", "9", "--packing", "spread"]
    assert main(args) == 0
    (config,) = seen
    assert (config.store, config.admin_port, config.agent_port) == ("memory://", 19004, 9005)
    assert (config.heartbeat_timeout_s, config.policy.packing) == (9.0, Packing.SPREAD)
    assert main(["scheduler", "--store", "redis://h:1"]) == 2
    assert "error: --store: unsupported store URL scheme 'redis'" in capsys.readouterr().err
    assert main(["scheduler", "--heartbeat-interval", "5", "--heartbeat-timeout", "2"]) == 2
    assert "heartbeat timeout must be longer" in capsys.readouterr().err
    assert len(seen) == 1


def test_infer_through_a_gateway_asks_no_scheduler_for_replicas(
    cli: Cli, agent: tuple[FakeAgent, str]
) -> None:
    gateway, endpoint = agent  # the fake answers OIP as a gateway would
    status, out, err = cli("infer", "iris", "-d", json.dumps(REQUEST), "--gateway", endpoint)
    assert status == 0, err
    assert json.loads(out)["model_name"] == "iris"
    assert gateway.requests == [("/v2/models/iris/infer", REQUEST)]
    gateway.errors["iris"] = (503, "model 'iris' has no ready replica (ModelProgressing)")
    assert cli("infer", "iris", "-d", json.dumps(REQUEST), "--gateway", endpoint) == (
        1,
        "",
        f"error: gateway {endpoint} answered 503: model 'iris' has no ready replica "
        "(ModelProgressing)\n",
    )


def test_infer_through_an_unreachable_gateway(cli: Cli) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    status, out, err = cli("infer", "iris", "-d", json.dumps(REQUEST), "--gateway", closed)
    assert (status, out) == (1, "")
    assert err.startswith(f"error: cannot reach the gateway at {closed} (")
