"""The data dir: where it is by default, and what lives where inside it."""

from __future__ import annotations

import stat
from pathlib import Path

from loadmaster.local_cluster.layout import DataDir, default_data_dir


def test_default_data_dir_is_dot_loadmaster_under_the_working_directory() -> None:
    assert default_data_dir({}, Path("/work/project")) == Path("/work/project/.loadmaster")


def test_the_environment_overrides_the_default_and_relative_paths_are_made_absolute() -> None:
    env = {"LOADMASTER_DATA_DIR": "clusters/dev"}
    assert default_data_dir(env, Path("/w")) == Path("/w/clusters/dev")
    assert default_data_dir({"LOADMASTER_DATA_DIR": "/srv/lm"}, Path("/w")) == Path("/srv/lm")
    assert default_data_dir({"LOADMASTER_DATA_DIR": ""}, Path("/w")) == Path("/w/.loadmaster")


def test_layout_paths() -> None:
    layout = DataDir(Path("/d"))
    assert layout.record == Path("/d/cluster.json")
    assert layout.etcd == Path("/d/etcd")
    assert layout.log("agent-2") == Path("/d/logs/agent-2.log")
    assert layout.agent_cache("agent-1") == Path("/d/agents/agent-1/cache")


def test_create_makes_every_directory_and_keeps_etcd_private(tmp_path: Path) -> None:
    layout = DataDir(tmp_path / "dir")
    layout.create(("agent-1", "agent-2"))
    assert layout.logs.is_dir()
    assert layout.agent_cache("agent-1").is_dir() and layout.agent_cache("agent-2").is_dir()
    assert stat.S_IMODE(layout.etcd.stat().st_mode) == 0o700
    layout.create(("agent-1",))  # again, on an existing dir: nothing fails
    assert layout.etcd.is_dir()
