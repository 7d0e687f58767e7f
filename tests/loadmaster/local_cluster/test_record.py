"""cluster.json: written and read back unchanged, pids cleared by a stop, damage reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.record import (
    BadRecord,
    ClusterRecord,
    PartRecord,
    read_record,
    write_record,
)


def _record() -> ClusterRecord:
    return ClusterRecord(
        data_dir="/d",
        cwd="/w",
        started_at="2024-06-01T12:00:00+00:00",
        detached=True,
        parts=(
            PartRecord("etcd", PartKind.ETCD, {"client": 2379, "peer": 2380}, 11, 1717243200.5),
            PartRecord("scheduler", PartKind.SCHEDULER, {"admin": 19004, "agent": 19005}, 12, 1.0),
            PartRecord("agent-1", PartKind.AGENT, {"http": 40001, "grpc": 40002}),
        ),
        endpoints={"admin": "127.0.0.1:19004", "kafka": "none"},
        supervisor_pid=10,
        supervisor_started=99.25,
    )


def test_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    write_record(path, _record())
    assert read_record(path) == _record()
    assert json.loads(path.read_text())["parts"][0]["pid"] == 11


def test_stopped_clears_every_pid_and_keeps_ports_and_endpoints() -> None:
    stopped = _record().stopped()
    assert all(p.pid is None and p.started is None for p in stopped.parts)
    assert stopped.supervisor_pid is None
    assert stopped.part("etcd") == PartRecord("etcd", PartKind.ETCD, {"client": 2379, "peer": 2380})
    assert stopped.endpoints == _record().endpoints


def test_admin_address_comes_from_the_scheduler_port() -> None:
    assert _record().admin == "127.0.0.1:19004"
    assert ClusterRecord("/d", "/w", "t", False, ()).admin is None


def test_a_missing_record_is_none_and_a_damaged_one_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    assert read_record(path) is None
    path.write_text("{not json")
    with pytest.raises(BadRecord, match=r"cluster\.json"):
        read_record(path)
    path.write_text(json.dumps({"version": 1, "data_dir": "/d"}))
    with pytest.raises(BadRecord, match="not a cluster record"):
        read_record(path)
    path.write_text(json.dumps({**_record().to_json(), "version": 7}))
    with pytest.raises(BadRecord, match="unknown format version 7"):
        read_record(path)


def test_writing_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    write_record(path, _record())
    write_record(path, _record().stopped())
    assert read_record(path) == _record().stopped()
    assert [p.name for p in tmp_path.iterdir()] == ["cluster.json"]  # no temp file left
