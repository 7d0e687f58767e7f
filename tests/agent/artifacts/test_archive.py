"""Archive extraction: good archives unpack (unwrapped), hostile ones are refused whole.

Every case goes through `ArtifactCache.fetch` on a local archive file, so the refusal tests
also prove that nothing is left under objects/, uris/ or tmp/.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from agent.artifacts import ArtifactCache, ArtifactError
from agent.artifacts import archive as archive_module
from agent.artifacts.archive import plan_extraction
from agent.artifacts.archive_formats import RawEntry
from agent.artifacts.digest import hash_directory
from tests.agent.artifacts.helpers import (
    Member,
    assert_cache_clean,
    entries_under,
    files_under,
    tar_bytes,
    zip_bytes,
)

M = Member
LIMIT = 1000

Build = Callable[[], bytes]


def _truncated() -> bytes:
    data = tar_bytes([M("iris/model.pt", bytes(range(256)) * 64)], mode="w:gz")
    return data[: len(data) // 2]


GOOD: list[tuple[str, str, Build, dict[str, bytes]]] = [
    (
        "tar.gz with one top-level directory is unwrapped",
        "iris.tar.gz",
        lambda: tar_bytes(
            [M("iris", kind="dir"), M("iris/model.pt", b"w"), M("iris/sub/s.json", b"{}")]
        ),
        {"model.pt": b"w", "sub/s.json": b"{}"},
    ),
    (
        "zip with one top-level directory is unwrapped",
        "iris.zip",
        lambda: zip_bytes([M("iris/", kind="dir"), M("iris/model.pt", b"w"), M("iris/b", b"b")]),
        {"b": b"b", "model.pt": b"w"},
    ),
    (
        "plain tar made with `tar cf x.tar .`",
        "iris.tar",
        lambda: tar_bytes([M("./", kind="dir"), M("./model.pt", b"w")], mode="w"),
        {"model.pt": b"w"},
    ),
    (
        "several top-level entries stay as they are",
        "iris.tgz",
        lambda: tar_bytes([M("model.pt", b"w"), M("conf/a", b"a")]),
        {"conf/a": b"a", "model.pt": b"w"},
    ),
    (
        "a single top-level file is not a wrapper",
        "iris.tgz",
        lambda: tar_bytes([M("model.pt", b"w")]),
        {"model.pt": b"w"},
    ),
    (
        "only one level is unwrapped",
        "iris.tgz",
        lambda: tar_bytes([M("a/b/model.pt", b"w")]),
        {"b/model.pt": b"w"},
    ),
    (
        "in-tree symlink and hard link become copies",
        "iris.tar.gz",
        lambda: tar_bytes(
            [
                M("iris/v1/model.pt", b"w"),
                M("iris/latest.pt", kind="symlink", link="v1/model.pt"),
                M("iris/v1/again.pt", kind="symlink", link="../v1/./model.pt"),
                M("iris/hard.pt", kind="hardlink", link="iris/v1/model.pt"),
            ]
        ),
        {"hard.pt": b"w", "latest.pt": b"w", "v1/again.pt": b"w", "v1/model.pt": b"w"},
    ),
    (
        "macOS resource forks are skipped",
        "iris.zip",
        lambda: zip_bytes([M("iris/model.pt", b"w"), M("__MACOSX/iris/._model.pt", b"junk")]),
        {"model.pt": b"w"},
    ),
    (
        "content exactly at the limit is accepted",
        "iris.tgz",
        lambda: tar_bytes([M("model.pt", bytes(LIMIT))]),
        {"model.pt": bytes(LIMIT)},
    ),
]


@pytest.mark.parametrize(
    ("name", "build", "expected"), [case[1:] for case in GOOD], ids=[case[0] for case in GOOD]
)
def test_good_archive(tmp_path: Path, name: str, build: Build, expected: dict[str, bytes]) -> None:
    archive = tmp_path / name
    archive.write_bytes(build())

    result = ArtifactCache(tmp_path / "cache", max_extracted_bytes=LIMIT).fetch(str(archive))

    assert files_under(result.path) == expected
    assert not [p for p in result.path.rglob("*") if p.is_symlink()]
    assert result.path == tmp_path / "cache" / "objects" / result.digest
    assert result.digest == hash_directory(result.path)
    assert entries_under(tmp_path / "cache" / "tmp") == []


BAD: list[tuple[str, str, Build, str]] = [
    ("tar ../x", "a.tgz", lambda: tar_bytes([M("../x", b"x")]), "'../x' leaves the model"),
    (
        "tar ../../etc/passwd",
        "a.tgz",
        lambda: tar_bytes([M("../../etc/passwd", b"x")]),
        "archive entry '../../etc/passwd' leaves the model directory",
    ),
    ("tar a/../../x", "a.tgz", lambda: tar_bytes([M("a/../../x", b"x")]), "leaves the model"),
    ("tar a/../b", "a.tgz", lambda: tar_bytes([M("a/../b", b"x")]), "leaves the model"),
    ("tar absolute /x", "a.tgz", lambda: tar_bytes([M("/x", b"x")]), "'/x' is an absolute path"),
    (
        "symlink escaping with ..",
        "a.tgz",
        lambda: tar_bytes([M("m.pt", b"w"), M("link", kind="symlink", link="../../etc/passwd")]),
        "'link' links to '../../etc/passwd', which leaves the model directory",
    ),
    (
        "symlink to an absolute path",
        "a.tgz",
        lambda: tar_bytes([M("m.pt", b"w"), M("link", kind="symlink", link="/etc/passwd")]),
        "which leaves the model directory",
    ),
    (
        "symlinked directory then a write through it",
        "a.tgz",
        lambda: tar_bytes([M("d", kind="symlink", link="/tmp"), M("d/evil", b"x")]),
        "'d' links to '/tmp', which leaves the model directory",
    ),
    (
        "hard link escaping",
        "a.tar",
        lambda: tar_bytes([M("m.pt", b"w"), M("h", kind="hardlink", link="../outside")], "w"),
        "'h' links to '../outside', which leaves the model directory",
    ),
    (
        "symlink to a directory inside",
        "a.tgz",
        lambda: tar_bytes([M("sub/m.pt", b"w"), M("alias", kind="symlink", link="sub")]),
        "not a regular file in the archive",
    ),
    (
        "symlink to a missing entry",
        "a.tgz",
        lambda: tar_bytes([M("m.pt", b"w"), M("alias", kind="symlink", link="nothing")]),
        "not a regular file in the archive",
    ),
    ("fifo", "a.tgz", lambda: tar_bytes([M("p", kind="fifo")]), "is a device, FIFO or socket"),
    ("char device", "a.tgz", lambda: tar_bytes([M("c", kind="chrdev")]), "device, FIFO"),
    ("zip ../x", "a.zip", lambda: zip_bytes([M("../evil.txt", b"x")]), "leaves the model"),
    ("zip ..\\x", "a.zip", lambda: zip_bytes([M("..\\evil.txt", b"x")]), "backslash"),
    ("zip absolute", "a.zip", lambda: zip_bytes([M("/evil.txt", b"x")]), "absolute path"),
    (
        "zip symlink escaping",
        "a.zip",
        lambda: zip_bytes([M("m.pt", b"w"), M("link", kind="symlink", link="../../etc")]),
        "which leaves the model directory",
    ),
    (
        "tar.gz larger than the limit",
        "a.tgz",
        lambda: tar_bytes([M("a.pt", bytes(600)), M("b.pt", bytes(401))]),
        "declares 1001 bytes of content, more than the limit of 1000 bytes",
    ),
    (
        "zip larger than the limit",
        "a.zip",
        lambda: zip_bytes([M("m.pt", bytes(5000))]),
        "more than the limit of 1000 bytes (max_extracted_bytes)",
    ),
    (
        "links count towards the limit",
        "a.tgz",
        lambda: tar_bytes([M("m.pt", bytes(600)), M("l", kind="symlink", link="m.pt")]),
        "declares 1200 bytes",
    ),
    ("duplicate", "a.tgz", lambda: tar_bytes([M("m", b"1"), M("m", b"2")]), "appears twice"),
    (
        "file and directory of one name",
        "a.tgz",
        lambda: tar_bytes([M("m", b"1"), M("m/x", b"2")]),
        "'m' is both a file and a directory",
    ),
    ("no files", "a.tgz", lambda: tar_bytes([M("iris", kind="dir")]), "holds no files"),
    ("not an archive", "a.tar.gz", lambda: b"definitely not gzip", "cannot read archive"),
    ("not a zip", "a.zip", lambda: b"PK but not really", "cannot read archive"),
    ("truncated tar.gz", "a.tar.gz", _truncated, "cannot read archive"),
]


@pytest.mark.parametrize(
    ("name", "build", "message"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_refused_archive_leaves_nothing(
    tmp_path: Path, name: str, build: Build, message: str
) -> None:
    archive = tmp_path / name
    archive.write_bytes(build())

    with pytest.raises(ArtifactError) as caught:
        ArtifactCache(tmp_path / "cache", max_extracted_bytes=LIMIT).fetch(str(archive))

    assert message in str(caught.value)
    assert str(caught.value).startswith(f"storageUri '{archive}': ")
    assert_cache_clean(tmp_path / "cache")


def test_limit_is_inclusive() -> None:
    entries = [RawEntry("m.pt", "file", 10, 0), RawEntry("n.pt", "file", 20, 1)]
    assert plan_extraction(entries, max_bytes=30).total_bytes == 30
    with pytest.raises(ArtifactError, match="declares 30 bytes"):
        plan_extraction(entries, max_bytes=29)


class _LyingReader:
    """An archive whose header declares 4 bytes but whose data stream yields 4 KiB."""

    def entries(self) -> list[RawEntry]:
        return [RawEntry("m.pt", "file", 4, 0)]

    def open(self, index: int) -> IO[bytes]:
        return io.BytesIO(bytes(4096))

    def close(self) -> None:
        pass


def test_bytes_beyond_the_declared_size_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "open_archive", lambda path, kind: _LyingReader())
    with pytest.raises(ArtifactError, match=r"'m\.pt' holds more bytes than"):
        archive_module.extract_archive(tmp_path / "x.tgz", "x.tgz", tmp_path / "out", 1 << 20)
