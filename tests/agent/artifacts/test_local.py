"""Local artifacts: directories served in place, single files and archives copied in."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.artifacts import ArtifactCache, ArtifactError
from agent.artifacts.digest import hash_directory, tree_digest
from tests.agent.artifacts.helpers import Member, assert_cache_clean, files_under, tar_bytes


def _model_dir(base: Path) -> Path:
    model = base / "iris"
    (model / "sub").mkdir(parents=True)
    (model / "model.pt").write_bytes(b"weights-v1")
    (model / "sub" / "settings.json").write_text('{"a": 1}')
    return model


@pytest.mark.parametrize("form", ["plain", "file_uri", "relative"])
def test_directory_is_used_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    model = _model_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    uri = {"plain": str(model), "file_uri": f"file://{model}", "relative": "iris"}[form]
    cache = ArtifactCache(tmp_path / "cache")

    result = cache.fetch(uri)

    assert result.path == model.resolve()
    assert result.cached is False
    assert result.digest == hash_directory(model)
    assert len(result.digest) == 64
    assert_cache_clean(tmp_path / "cache")  # nothing was copied


@pytest.mark.parametrize(
    "change",
    [
        lambda m: (m / "model.pt").write_bytes(b"weights-v2"),
        lambda m: (m / "extra.txt").write_bytes(b""),
        lambda m: (m / "model.pt").rename(m / "renamed.pt"),
        lambda m: (m / "sub" / "settings.json").unlink(),
    ],
    ids=["content", "added", "renamed", "removed"],
)
def test_changed_directory_gives_new_digest(
    tmp_path: Path, change: Callable[[Path], object]
) -> None:
    model = _model_dir(tmp_path)
    cache = ArtifactCache(tmp_path / "cache")
    before = cache.fetch(str(model)).digest
    assert cache.fetch(str(model)).digest == before  # stable while nothing changes

    change(model)

    assert cache.fetch(str(model)).digest != before


def test_single_file_becomes_a_directory_in_the_cache(tmp_path: Path) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"torch-zip-bytes")  # .pt is a zip inside, but never unpacked
    cache = ArtifactCache(tmp_path / "cache")

    first = cache.fetch(str(weights))
    second = ArtifactCache(tmp_path / "cache").fetch(f"file://{weights}")

    assert files_under(first.path) == {"model.pt": b"torch-zip-bytes"}
    assert first.path == tmp_path / "cache" / "objects" / first.digest
    assert (first.cached, second.cached) == (False, True)
    assert second.path == first.path
    assert first.digest == hash_directory(first.path)


def test_local_archive_is_extracted_once(tmp_path: Path) -> None:
    archive = tmp_path / "iris.tar.gz"
    archive.write_bytes(tar_bytes([Member("iris/model.pt", b"w"), Member("iris/a.txt", b"a")]))

    first = ArtifactCache(tmp_path / "cache").fetch(str(archive))
    second = ArtifactCache(tmp_path / "cache").fetch(str(archive))
    archive.write_bytes(tar_bytes([Member("iris/model.pt", b"w2")]))
    third = ArtifactCache(tmp_path / "cache").fetch(str(archive))

    assert files_under(first.path) == {"a.txt": b"a", "model.pt": b"w"}
    assert (first.cached, second.cached, third.cached) == (False, True, False)
    assert second.path == first.path
    assert files_under(third.path) == {"model.pt": b"w2"}


def test_same_content_from_directory_and_archive_has_one_digest(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    archive = tmp_path / "iris.tgz"
    archive.write_bytes(
        tar_bytes(
            [
                Member("iris/model.pt", b"weights-v1"),
                Member("iris/sub/settings.json", b'{"a": 1}'),
            ]
        )
    )
    cache = ArtifactCache(tmp_path / "cache")

    assert cache.fetch(str(archive)).digest == cache.fetch(str(model)).digest


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda base: base / "missing", "does not exist"),
        (lambda base: _fifo(base / "pipe"), "neither a file nor a directory"),
        (lambda base: _fifo(base / "model" / "pipe").parent, "is not a regular file"),
        (lambda base: _dangling(base / "model"), "cannot read"),
    ],
    ids=["missing", "fifo", "fifo-inside", "dangling-symlink-inside"],
)
def test_refused_local_paths(tmp_path: Path, setup: Callable[[Path], Path], message: str) -> None:
    path = setup(tmp_path)
    with pytest.raises(ArtifactError) as caught:
        ArtifactCache(tmp_path / "cache").fetch(str(path))
    assert message in str(caught.value)
    assert_cache_clean(tmp_path / "cache")


def test_symlink_cycle_in_directory_terminates(tmp_path: Path) -> None:
    model = _model_dir(tmp_path)
    (model / "sub" / "loop").symlink_to(model, target_is_directory=True)

    digest = ArtifactCache(tmp_path / "cache").fetch(str(model)).digest

    expected = {"model.pt": _sha(b"weights-v1"), "sub/settings.json": _sha(b'{"a": 1}')}
    assert digest == tree_digest(expected)


def test_file_larger_than_limit_is_refused(tmp_path: Path) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"x" * 101)
    with pytest.raises(ArtifactError, match="larger than the limit of 100 bytes"):
        ArtifactCache(tmp_path / "cache", max_extracted_bytes=100).fetch(str(weights))
    assert_cache_clean(tmp_path / "cache")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _dangling(model: Path) -> Path:
    model.mkdir()
    (model / "gone.pt").symlink_to(model / "nowhere")
    return model
