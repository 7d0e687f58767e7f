"""`loadmaster up|down|status` at the command line, and how admin commands find a cluster.

No cluster process is started here: what is checked is everything decided before the first
spawn (busy ports, a cluster already running from the data dir, flag clashes), what `down` and
`status` make of a record, and the scheduler discovery order, against a fake scheduler. A
"running" part is this test process itself (its pid and start time).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadmaster.cli import admin_options
from loadmaster.cli.main import build_parser, main
from loadmaster.client import AdminClient
from loadmaster.local_cluster.current import current_path, read_current, write_current
from loadmaster.local_cluster.layout import DataDir
from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.ports import free_port
from loadmaster.local_cluster.processes import start_time
from loadmaster.local_cluster.record import ClusterRecord, PartRecord, read_record, write_record
from tests.loadmaster.client.fakes import FakeScheduler, start_grpc

ME = os.getpid()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working dir, state dir and environment of our own: nothing of the user's leaks in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("LOADMASTER_DATA_DIR", raising=False)
    monkeypatch.delenv("LOADMASTER_SCHEDULER", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def _ports_except(**given: int) -> list[str]:
    """Every port flag of `up`, free ports unless given."""
    flags = ("gateway-http", "gateway-grpc", "admin", "agent", "metrics", "etcd", "etcd-peer")
    args: list[str] = []
    for flag in (*flags, "kafka"):
        args += [f"--{flag}-port", str(given.get(flag.replace("-", "_"), free_port()))]
    return args


def _record(data_dir: Path, admin: int, alive: bool) -> ClusterRecord:
    pid, started = (ME, start_time(ME)) if alive else (None, None)
    record = ClusterRecord(
        data_dir=str(data_dir),
        cwd=str(data_dir.parent),
        started_at="2024-06-01T00:00:00+00:00",
        detached=True,
        parts=(
            PartRecord("etcd", PartKind.ETCD, {"client": free_port(), "peer": free_port()}),
            PartRecord("scheduler", PartKind.SCHEDULER, {"admin": admin}, pid, started),
        ),
        endpoints={"admin": f"127.0.0.1:{admin}"},
    )
    write_record(DataDir(data_dir).record, record)
    return record


def test_a_busy_port_is_refused_naming_its_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = run(capsys, "up", "--data-dir", "d", *_ports_except(admin=port))
    assert (status, out) == (2, "")
    assert err == (
        f"error: port {port} (the scheduler's admin API) is already in use; is another cluster "
        f"running? stop it, or choose another port with --admin-port PORT\n"
    )
    assert not DataDir(tmp_path / "d").record.exists()  # nothing was started


def test_up_on_a_dir_whose_cluster_runs_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _record(tmp_path / "d", free_port(), alive=True)
    status, _, err = run(capsys, "up", "--data-dir", "d", *_ports_except())
    assert status == 2
    assert err == (
        f"error: a cluster from {tmp_path / 'd'} is already running (scheduler); stop it with "
        f"`loadmaster down --data-dir {tmp_path / 'd'}`, or choose another --data-dir\n"
    )


def test_no_kafka_and_an_external_kafka_exclude_each_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["up", "--no-kafka", "--kafka-bootstrap", "k:9092"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_up_defaults() -> None:
    args = build_parser().parse_args(["up"])
    assert (args.agents, args.agent_memory, args.detach, args.data_dir) == (
        1,
        2 * 1024**3,
        False,
        None,
    )
    assert (args.port_admin, args.port_gateway_http, args.port_gateway_grpc) == (9004, 9000, 9500)
    assert (args.port_etcd_client, args.port_etcd_peer, args.port_kafka) == (2379, 2380, 9092)


def test_status_without_a_cluster(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "status") == (
        1,
        "",
        f"error: no cluster in {tmp_path / '.loadmaster'}: start one with `loadmaster up`\n",
    )


def test_status_of_a_stopped_cluster_says_down_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _record(tmp_path / ".loadmaster", free_port(), alive=False)
    status, out, err = run(capsys, "status", "--json")
    assert status == 1
    report = json.loads(out)
    assert report["healthy"] is False
    assert [(p["name"], p["state"], p["detail"]) for p in report["parts"]] == [
        ("etcd", "down", "not running"),
        ("scheduler", "down", "not running"),
    ]
    assert report["models"] is None and report["servers"] is None
    assert report["schedulerError"].startswith("cannot reach the scheduler")
    assert err == ""


def test_down_clears_the_pids_and_the_current_pointer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "d"
    _record(data, free_port(), alive=False)
    pointer = current_path()
    write_current(pointer, data)
    status, _, err = run(capsys, "down")  # found through the current pointer
    assert status == 0
    assert err == f"nothing was running from {data}\n"
    assert read_current(pointer) is None
    record = read_record(DataDir(data).record)
    assert record is not None and all(p.pid is None for p in record.parts)


def test_down_without_a_cluster_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run(capsys, "down", "--data-dir", "nowhere")
    assert status == 1
    assert (
        err == f"error: no cluster in {tmp_path / 'nowhere'} (no cluster.json); nothing to stop\n"
    )


@pytest.fixture
def scheduler() -> Iterator[str]:
    server, address = start_grpc(FakeScheduler())
    yield address
    server.stop(0)


def test_admin_commands_find_the_current_cluster_without_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scheduler: str
) -> None:
    port = int(scheduler.rsplit(":", 1)[1])
    _record(tmp_path / "d", port, alive=True)
    write_current(current_path(), tmp_path / "d")
    assert run(capsys, "server", "list", "--json") == (0, "[]\n", "")


def test_the_environment_and_the_flag_come_before_the_current_cluster(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    scheduler: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed = free_port()
    _record(tmp_path / "d", closed, alive=True)
    write_current(current_path(), tmp_path / "d")
    assert run(capsys, "server", "list", "--scheduler", scheduler)[0] == 0
    monkeypatch.setenv("LOADMASTER_SCHEDULER", scheduler)
    assert run(capsys, "server", "list")[0] == 0
    monkeypatch.delenv("LOADMASTER_SCHEDULER")
    status, _, err = run(capsys, "server", "list")
    assert status == 1 and f"cannot reach the scheduler at 127.0.0.1:{closed}" in err


def test_a_stopped_current_cluster_falls_back_to_the_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(tmp_path / "d", free_port(), alive=False)
    write_current(current_path(), tmp_path / "d")
    asked: list[str] = []

    class Recording(AdminClient):
        def __init__(self, address: str, timeout_s: float = 10.0) -> None:
            asked.append(address)
            super().__init__(free_address(), timeout_s)

    monkeypatch.setattr(admin_options, "AdminClient", Recording)
    assert run(capsys, "server", "list")[0] == 1
    assert asked == ["127.0.0.1:9004"]


def free_address() -> str:
    return f"127.0.0.1:{free_port()}"


def test_the_scheduler_flag_help_states_the_discovery_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["model", "list", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "(default: $LOADMASTER_SCHEDULER, else the local cluster `loadmaster up` started while "
        "its scheduler runs, else 127.0.0.1:9004)"
    ) in text
