"""Which scheduler admin commands use, and which data dir `down`/`status` act on.

The "alive" scheduler in these tests is this test process itself (its pid and start time), and
a dead one is a pid recorded with a start time no process has: no process is started.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadmaster.local_cluster.current import (
    clear_current,
    cluster_dir,
    current_admin,
    current_path,
    read_current,
    write_current,
)
from loadmaster.local_cluster.discovery import scheduler_address
from loadmaster.local_cluster.layout import DataDir
from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.processes import start_time
from loadmaster.local_cluster.record import ClusterRecord, PartRecord, write_record


def _unreachable() -> str | None:
    raise AssertionError("the current cluster must not be consulted")


def test_the_flag_wins() -> None:
    env = {"LOADMASTER_SCHEDULER": "env:1"}
    assert scheduler_address("flag:1", env, _unreachable) == "flag:1"


def test_then_the_environment() -> None:
    assert scheduler_address(None, {"LOADMASTER_SCHEDULER": "env:1"}, _unreachable) == "env:1"


def test_then_the_current_cluster_then_the_default() -> None:
    assert scheduler_address(None, {}, lambda: "127.0.0.1:19004") == "127.0.0.1:19004"
    assert scheduler_address(None, {}, lambda: None) == "127.0.0.1:9004"
    assert scheduler_address("", {"LOADMASTER_SCHEDULER": ""}, lambda: None) == "127.0.0.1:9004"


def test_current_path_follows_xdg_state_home(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    assert current_path(env) == tmp_path / "loadmaster" / "current.json"
    home = Path("/home/u")
    assert current_path({}, home) == home / ".local/state/loadmaster/current.json"
    # A relative XDG_STATE_HOME is invalid by the spec and ignored.
    assert current_path({"XDG_STATE_HOME": "rel"}, home) == current_path({}, home)


def test_pointer_write_read_and_clear_only_for_its_own_dir(tmp_path: Path) -> None:
    pointer = tmp_path / "state" / "current.json"
    assert read_current(pointer) is None
    write_current(pointer, Path("/a"))
    assert read_current(pointer) == Path("/a")
    assert not clear_current(pointer, Path("/b"))
    assert read_current(pointer) == Path("/a")
    assert clear_current(pointer, Path("/a"))
    assert not pointer.exists()


def _cluster(data_dir: Path, pid: int | None, started: float | None) -> None:
    scheduler = PartRecord("scheduler", PartKind.SCHEDULER, {"admin": 19004}, pid, started)
    record = ClusterRecord(str(data_dir), "/", "t", True, (scheduler,))
    write_record(DataDir(data_dir).record, record)


def test_current_admin_needs_a_live_scheduler(tmp_path: Path) -> None:
    pointer = tmp_path / "current.json"
    data = tmp_path / "data"
    assert current_admin(pointer) is None  # no pointer
    write_current(pointer, data)
    assert current_admin(pointer) is None  # no record
    _cluster(data, os.getpid(), start_time(os.getpid()))
    assert current_admin(pointer) == "127.0.0.1:19004"
    _cluster(data, os.getpid(), 12.0)  # the pid is someone else's now
    assert current_admin(pointer) is None
    _cluster(data, None, None)  # after `down`
    assert current_admin(pointer) is None
    DataDir(data).record.write_text("garbage")
    assert current_admin(pointer) is None


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    cwd, other, pointer = tmp_path / "cwd", tmp_path / "other", tmp_path / "current.json"
    cwd.mkdir()
    write_current(pointer, other)
    return cwd, other, pointer


def test_cluster_dir_prefers_the_flag_then_the_environment(dirs: tuple[Path, Path, Path]) -> None:
    cwd, _, pointer = dirs
    assert cluster_dir(Path("x"), {}, cwd, pointer) == cwd / "x"
    env = {"LOADMASTER_DATA_DIR": "/env"}
    assert cluster_dir(None, env, cwd, pointer) == Path("/env")


def test_cluster_dir_uses_dot_loadmaster_if_a_cluster_ran_there_else_the_current_one(
    dirs: tuple[Path, Path, Path],
) -> None:
    cwd, other, pointer = dirs
    assert cluster_dir(None, {}, cwd, pointer) == other
    _cluster(cwd / ".loadmaster", None, None)
    assert cluster_dir(None, {}, cwd, pointer) == cwd / ".loadmaster"
    pointer.unlink()
    assert cluster_dir(None, {}, cwd / "elsewhere", pointer) == cwd / "elsewhere" / ".loadmaster"
