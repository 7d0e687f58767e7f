"""s3:// artifacts through the fsspec seam, with fsspec's in-memory filesystem standing in.

The memory filesystem's store is process-global, so each test writes under its own bucket
name and removes it afterwards.
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

from agent.artifacts import ArtifactCache, ArtifactError
from agent.artifacts.digest import tree_digest
from tests.agent.artifacts.helpers import Member, assert_cache_clean, files_under, tar_bytes


@pytest.fixture
def bucket() -> Iterator[tuple[Any, str]]:
    fs = fsspec.filesystem("memory")
    name = f"bucket-{uuid.uuid4().hex[:12]}"
    yield fs, name
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


def _cache(root: Path, fs: Any, calls: list[str] | None = None) -> ArtifactCache:
    def factory(protocol: str) -> Any:
        if calls is not None:
            calls.append(protocol)
        return fs

    return ArtifactCache(root, filesystem_factory=factory)


def test_prefix_is_downloaded_recursively(tmp_path: Path, bucket: tuple[Any, str]) -> None:
    fs, name = bucket
    fs.pipe_file(f"/{name}/models/iris/model.pt", b"w")
    fs.pipe_file(f"/{name}/models/iris/conf/settings.json", b"{}")
    fs.pipe_file(f"/{name}/models/iris-other/model.pt", b"not this one")
    calls: list[str] = []

    result = _cache(tmp_path, fs, calls).fetch(f"s3://{name}/models/iris/")

    assert files_under(result.path) == {"conf/settings.json": b"{}", "model.pt": b"w"}
    assert calls == ["s3"]
    assert result.digest == tree_digest({"conf/settings.json": _sha(b"{}"), "model.pt": _sha(b"w")})
    assert result.path == tmp_path / "objects" / result.digest


def test_single_key_is_a_file(tmp_path: Path, bucket: tuple[Any, str]) -> None:
    fs, name = bucket
    fs.pipe_file(f"/{name}/models/iris/model.pt", b"weights")

    result = _cache(tmp_path, fs).fetch(f"s3://{name}/models/iris/model.pt")

    assert files_under(result.path) == {"model.pt": b"weights"}


def test_archive_key_is_extracted(tmp_path: Path, bucket: tuple[Any, str]) -> None:
    fs, name = bucket
    fs.pipe_file(f"/{name}/iris.tar.gz", tar_bytes([Member("iris/model.pt", b"w")]))

    result = _cache(tmp_path, fs).fetch(f"s3://{name}/iris.tar.gz")

    assert files_under(result.path) == {"model.pt": b"w"}


def test_second_fetch_after_restart_needs_no_bucket(
    tmp_path: Path, bucket: tuple[Any, str]
) -> None:
    fs, name = bucket
    fs.pipe_file(f"/{name}/iris/model.pt", b"w")
    first = _cache(tmp_path, fs).fetch(f"s3://{name}/iris")
    fs.rm(f"/{name}", recursive=True)  # any attempt to download now would fail
    calls: list[str] = []

    second = _cache(tmp_path, fs, calls).fetch(f"s3://{name}/iris")

    assert (second.path, second.digest, second.cached) == (first.path, first.digest, True)
    assert calls == []


@pytest.mark.parametrize(
    ("keys", "uri_path", "message"),
    [
        ({}, "missing/prefix", "no object or prefix there"),
        ({"p/../../evil": b"x"}, "p", "object '../../evil' leaves the model directory"),
        ({"p/big.pt": bytes(2000)}, "p", "more than the limit of 1000 bytes"),
        ({"big.pt": bytes(2000)}, "big.pt", "more than the limit of 1000 bytes"),
    ],
    ids=["missing", "traversal-key", "prefix-too-large", "key-too-large"],
)
def test_refused(
    tmp_path: Path, bucket: tuple[Any, str], keys: dict[str, bytes], uri_path: str, message: str
) -> None:
    fs, name = bucket
    for key, data in keys.items():
        fs.pipe_file(f"/{name}/{key}", data)
    cache = ArtifactCache(tmp_path, filesystem_factory=lambda _: fs, max_extracted_bytes=1000)

    with pytest.raises(ArtifactError) as caught:
        cache.fetch(f"s3://{name}/{uri_path}")

    assert message in str(caught.value)
    assert_cache_clean(tmp_path)


def test_backend_error_names_the_uri(tmp_path: Path) -> None:
    class Broken:
        def info(self, path: str) -> dict[str, Any]:
            raise PermissionError("Access Denied")

    with pytest.raises(ArtifactError) as caught:
        _cache(tmp_path, Broken()).fetch("s3://b/m.pt")
    assert str(caught.value) == "download of s3://b/m.pt failed: PermissionError: Access Denied"


def test_missing_s3fs_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # makes `import s3fs` raise ImportError

    with pytest.raises(ArtifactError) as caught:
        ArtifactCache(tmp_path).fetch("s3://bucket/models/iris")

    assert "pip install 'loadmaster[s3]'" in str(caught.value)
    assert str(caught.value).startswith("storageUri 's3://bucket/models/iris': ")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
