"""Crash safety of the on-disk layout: staging, atomic publication, the URI index."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agent.artifacts import ArtifactCache, ArtifactError
from agent.artifacts.store import Store
from tests.agent.artifacts.helpers import FakeHttp, Route, entries_under, files_under

DIGEST = "ab" * 32


def _tree(base: Path, content: bytes) -> Path:
    base.mkdir(parents=True)
    (base / "model.pt").write_bytes(content)
    return base


def test_publish_keeps_the_first_copy_of_a_digest(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first = store.publish(_tree(tmp_path / "a", b"first"), DIGEST)

    second = store.publish(_tree(tmp_path / "b", b"second"), DIGEST)

    assert second == first == tmp_path / "objects" / DIGEST
    assert files_under(first) == {"model.pt": b"first"}
    assert (tmp_path / "b").exists()  # left for the caller's staging cleanup


def test_publish_failure_other_than_existing_is_raised(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Store(tmp_path).publish(tmp_path / "never-made", DIGEST)


def test_staging_is_removed_on_error(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with pytest.raises(RuntimeError), store.staging() as staging:
        (staging / "partial").write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert entries_under(tmp_path / "tmp") == []


@pytest.mark.parametrize(
    "content",
    ["", "not json", '["list"]', '{"key": "other", "digest": "' + DIGEST + '"}', '{"key": "k"}'],
    ids=["empty", "garbage", "not-object", "other-key", "no-digest"],
)
def test_unusable_index_entry_is_a_miss(tmp_path: Path, content: str) -> None:
    store = Store(tmp_path)
    _tree(store.object_path(DIGEST), b"w")
    store.remember("k", DIGEST)
    assert store.lookup("k") == DIGEST
    (index_file,) = (tmp_path / "uris").iterdir()

    index_file.write_text(content)

    assert store.lookup("k") is None


def test_index_entry_without_its_object_is_a_miss(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.remember("k", DIGEST)
    assert store.lookup("k") is None


def test_leftover_staging_from_a_crash_is_ignored(tmp_path: Path, http_server: FakeHttp) -> None:
    crashed = _tree(tmp_path / "tmp" / "0123456789abcdef" / "tree", b"half-written")
    url = http_server.serve("/model.pt", Route(b"whole"))

    result = ArtifactCache(tmp_path).fetch(url)

    assert files_under(result.path) == {"model.pt": b"whole"}
    assert crashed.exists()  # not ours to delete implicitly: see sweep_tmp


def test_corrupt_index_leads_to_a_fresh_download(tmp_path: Path, http_server: FakeHttp) -> None:
    url = http_server.serve("/model.pt", Route(b"w"))
    ArtifactCache(tmp_path).fetch(url)
    for index_file in (tmp_path / "uris").iterdir():
        index_file.write_text("{")

    result = ArtifactCache(tmp_path).fetch(url)

    assert (result.cached, http_server.hits["/model.pt"]) == (False, 2)


def test_sweep_tmp_removes_only_old_entries(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    old_dir = _tree(tmp_path / "tmp" / "old", b"x")
    old_file = tmp_path / "tmp" / "old.json"
    old_file.write_text("{}")
    fresh = _tree(tmp_path / "tmp" / "fresh", b"x")
    hour_ago = time.time() - 3600
    for path in (old_dir, old_file):
        os.utime(path, (hour_ago, hour_ago))

    assert cache.sweep_tmp(older_than_s=60) == 2

    assert entries_under(tmp_path / "tmp") == ["fresh", "fresh/model.pt"]
    assert fresh.exists()


def test_unusable_root_is_an_artifact_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ArtifactError, match=r"artifact cache root .* is not usable"):
        ArtifactCache(tmp_path / "file" / "cache")
