"""DataPlane's version bookkeeping for the scheduler link: listeners, held(), unload_version.

A fake worker pool stands in for the worker processes; the artifact cache is real and reads
local directories in place, so these run in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from prometheus_client import CollectorRegistry

from agent.artifacts import ArtifactCache
from agent.config import AgentConfig
from agent.dataplane import DataPlane
from agent.metrics import AgentMetrics
from agent.models import VersionInfo
from agent.workers.messages import Loaded
from agent.workers.pool import LoadFailed, WorkerPool
from loadmaster.oip import errors
from loadmaster.replica_state import ReplicaState

S = ReplicaState


class FakePool:
    """Loads instantly; `failing` names model directories whose load fails."""

    def __init__(self) -> None:
        self.workers: list[object] = []
        self.loaded: set[str] = set()
        self.failing: set[str] = set()

    async def load(
        self, key: str, name: str, model_dir: str, capabilities: frozenset[str]
    ) -> Loaded:
        if Path(model_dir).name in self.failing:
            raise LoadFailed("no runtime for this directory")
        self.loaded.add(key)
        return Loaded("python", (), (), 1, 0.0, {}, "cpu", 0.0, 0.0, 0.0, 4096, 0)

    async def unload(self, key: str) -> None:
        self.loaded.discard(key)


@pytest.fixture
def pool() -> FakePool:
    return FakePool()


@pytest.fixture
def plane(tmp_path: Path, pool: FakePool) -> DataPlane:
    config = AgentConfig(name="a", cache_dir=tmp_path / "cache")
    metrics = AgentMetrics(CollectorRegistry())
    return DataPlane(config, cast(WorkerPool, pool), ArtifactCache(config.cache_dir), metrics)


def artifact(tmp_path: Path, name: str) -> str:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "model.py").write_text(f"# {name}\n")
    return str(directory)


def record(plane: DataPlane) -> list[tuple[str, str, ReplicaState]]:
    seen: list[tuple[str, str, ReplicaState]] = []
    plane.add_listener(lambda info: seen.append((info.name, info.version, info.state)))
    return seen


async def test_a_load_is_heard_and_held(plane: DataPlane, tmp_path: Path) -> None:
    seen = record(plane)
    await plane.load("iris", artifact(tmp_path, "v1"), "1")
    assert seen == [("iris", "1", S.LOADING), ("iris", "1", S.AVAILABLE)]
    [held] = plane.held()
    assert (held.name, held.version, held.state, held.rss_bytes) == ("iris", "1", S.AVAILABLE, 4096)
    assert held.digest


async def test_a_rollout_is_heard_new_version_first(plane: DataPlane, tmp_path: Path) -> None:
    await plane.load("iris", artifact(tmp_path, "v1"), "1")
    seen = record(plane)
    await plane.load("iris", artifact(tmp_path, "v2"), "2")
    assert seen == [
        ("iris", "2", S.LOADING),
        ("iris", "2", S.AVAILABLE),
        ("iris", "1", S.UNLOADING),
        ("iris", "1", S.UNLOADED),
    ]
    assert [(h.version, h.state) for h in plane.held()] == [("2", S.AVAILABLE)]


async def test_unload_version_leaves_the_other_versions(
    plane: DataPlane, pool: FakePool, tmp_path: Path
) -> None:
    await plane.load("iris", artifact(tmp_path, "v1"), "1")
    await plane.load("bert", artifact(tmp_path, "b1"), "1")
    seen = record(plane)
    assert await plane.unload_version("iris", "1")
    assert seen == [("iris", "1", S.UNLOADING), ("iris", "1", S.UNLOADED)]
    assert pool.loaded == {"bert:1"}
    assert [h.name for h in plane.held()] == ["bert"]
    with pytest.raises(errors.ModelNotFound):  # the last version gone: the model is gone
        plane.model_ready("iris")
    assert plane.model_ready("bert")


async def test_unload_version_of_what_is_not_held_is_false(
    plane: DataPlane, tmp_path: Path
) -> None:
    await plane.load("iris", artifact(tmp_path, "v1"), "1")
    seen = record(plane)
    assert not await plane.unload_version("iris", "7")
    assert not await plane.unload_version("never-seen", "1")
    assert seen == []


async def test_a_failed_version_is_heard_and_replaced(
    plane: DataPlane, pool: FakePool, tmp_path: Path
) -> None:
    pool.failing.add("broken")
    seen = record(plane)
    with pytest.raises(errors.BadRequest, match="no runtime"):
        await plane.load("iris", artifact(tmp_path, "broken"), "1")
    assert [(h.version, h.state, h.reason) for h in plane.held()] == [
        ("1", S.LOAD_FAILED, "no runtime for this directory")
    ]
    await plane.load("iris", artifact(tmp_path, "fixed"), "2")
    assert seen == [
        ("iris", "1", S.LOADING),
        ("iris", "1", S.LOAD_FAILED),
        ("iris", "1", S.UNLOADED),  # the new attempt replaces the failure
        ("iris", "2", S.LOADING),
        ("iris", "2", S.AVAILABLE),
    ]


async def test_a_repository_unload_is_heard(plane: DataPlane, tmp_path: Path) -> None:
    await plane.load("iris", artifact(tmp_path, "v1"), "1")
    seen = record(plane)
    await plane.unload("iris")
    assert seen[-1] == ("iris", "1", S.UNLOADED)
    assert plane.held() == []


async def test_a_broken_listener_does_not_break_loading(plane: DataPlane, tmp_path: Path) -> None:
    def broken(info: VersionInfo) -> None:
        raise RuntimeError("listener bug")

    plane.add_listener(broken)
    seen = record(plane)
    await plane.load("iris", artifact(tmp_path, "v1"), "1")
    assert seen[-1] == ("iris", "1", S.AVAILABLE)
    assert plane.model_ready("iris")
