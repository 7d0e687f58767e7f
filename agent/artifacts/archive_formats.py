"""tar and zip read as one neutral list of entries, so the safety rules are written once.

The readers only describe and open members; they never extract. Deciding what may be written
is `archive.py`'s job, and it must see every entry before the first byte lands on disk.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

from agent.artifacts.errors import ArtifactError

ArchiveKind = Literal["tar", "zip"]
EntryKind = Literal["file", "dir", "symlink", "hardlink", "special"]

# Decided by name, never by sniffing bytes: a torch `model.pt` is itself a zip file and must
# be served as one file, not unpacked.
_SUFFIXES: tuple[tuple[str, ArchiveKind], ...] = (
    (".tar.gz", "tar"),
    (".tgz", "tar"),
    (".tar", "tar"),
    (".zip", "zip"),
)
_MAX_SYMLINK_BYTES = 4096
_ZIP_ENCRYPTED = 0x1
_ZIP_UNIX = 3


def archive_kind(name: str) -> ArchiveKind | None:
    """Which reader opens a file called `name`; None if it is not an archive."""
    lowered = name.lower()
    for suffix, kind in _SUFFIXES:
        if lowered.endswith(suffix):
            return kind
    return None


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One member as the archive states it: `name` unvalidated, `link` as stored.

    `link` is a symlink's target (relative to the entry's directory) or a hard link's target
    (an archive path). `index` is the reader's handle for `open`.
    """

    name: str
    kind: EntryKind
    size: int
    index: int
    link: str = ""


class ArchiveReader(Protocol):
    def entries(self) -> list[RawEntry]: ...

    def open(self, index: int) -> IO[bytes]: ...

    def close(self) -> None: ...


class TarReader:
    """Any tar, compressed or not ("r:*" detects gzip, bz2 and xz)."""

    def __init__(self, path: Path) -> None:
        self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
        self._members = self._tar.getmembers()

    def entries(self) -> list[RawEntry]:
        return [_tar_entry(member, index) for index, member in enumerate(self._members)]

    def open(self, index: int) -> IO[bytes]:
        stream = self._tar.extractfile(self._members[index])
        if stream is None:
            raise ArtifactError(f"archive entry {self._members[index].name!r} has no data")
        return stream

    def close(self) -> None:
        self._tar.close()


def _tar_entry(member: tarfile.TarInfo, index: int) -> RawEntry:
    if member.isreg():
        return RawEntry(member.name, "file", member.size, index)
    if member.isdir():
        return RawEntry(member.name, "dir", 0, index)
    if member.issym():
        return RawEntry(member.name, "symlink", 0, index, member.linkname)
    if member.islnk():
        return RawEntry(member.name, "hardlink", 0, index, member.linkname)
    return RawEntry(member.name, "special", 0, index)


class ZipReader:
    """A zip; unix file types live in the high 16 bits of `external_attr`."""

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path)
        self._infos = self._zip.infolist()

    def entries(self) -> list[RawEntry]:
        return [self._entry(info, index) for index, info in enumerate(self._infos)]

    def _entry(self, info: zipfile.ZipInfo, index: int) -> RawEntry:
        if info.flag_bits & _ZIP_ENCRYPTED:
            raise ArtifactError(f"archive entry {info.filename!r} is encrypted")
        mode = info.external_attr >> 16 if info.create_system == _ZIP_UNIX else 0
        file_type = stat.S_IFMT(mode)
        if info.is_dir() or file_type == stat.S_IFDIR:
            return RawEntry(info.filename, "dir", 0, index)
        if file_type == stat.S_IFLNK:
            if info.file_size > _MAX_SYMLINK_BYTES:
                raise ArtifactError(f"archive entry {info.filename!r}: symlink target too long")
            target = self._zip.read(info).decode("utf-8", "surrogateescape")
            return RawEntry(info.filename, "symlink", 0, index, target)
        if file_type not in (0, stat.S_IFREG):
            return RawEntry(info.filename, "special", 0, index)
        return RawEntry(info.filename, "file", info.file_size, index)

    def open(self, index: int) -> IO[bytes]:
        return self._zip.open(self._infos[index])

    def close(self) -> None:
        self._zip.close()


def open_archive(path: Path, kind: ArchiveKind) -> ArchiveReader:
    return TarReader(path) if kind == "tar" else ZipReader(path)
