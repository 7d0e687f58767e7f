"""Safe extraction of a model archive into a new directory.

Policy (every entry is checked before anything is written, so a refused archive writes
nothing):

* names: no absolute paths, no ".." component, no backslash (see `paths.safe_relpath`);
* devices, FIFOs and sockets are refused;
* links, symbolic or hard, whose target leaves the archive are refused; a link to a regular
  file inside the archive is written as a *copy* of that file, never as a link, so no link
  ever exists on disk and no later write can be redirected through one. Links to
  directories, to other links or to missing entries are refused;
* the sum of declared sizes must not exceed `max_bytes`, and the bytes actually written are
  counted again while streaming, so a header that lies about sizes gains nothing;
* a single top-level directory ("iris/model.pt") is unwrapped, so the model directory holds
  the files directly; `__MACOSX/` resource forks added by macOS zip are skipped.

Members are streamed by hand instead of through `tarfile.extract(filter="data")`: the same
code then covers zip, hashes while writing, and enforces the byte limit as it goes.
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.artifacts.archive_formats import ArchiveReader, RawEntry, archive_kind, open_archive
from agent.artifacts.digest import copy_hashing
from agent.artifacts.errors import ArtifactError
from agent.artifacts.paths import resolve_symlink, safe_relpath

_WHAT = "archive entry"
_SKIPPED_TOPS = frozenset({"__MACOSX"})
_UNREADABLE = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    gzip.BadGzipFile,
    EOFError,
    zlib.error,
    NotImplementedError,  # a zip compression method Python lacks
)


@dataclass(frozen=True, slots=True)
class PlannedFile:
    path: str  # relative to the model directory, after unwrapping
    index: int
    size: int
    name: str  # as stored in the archive, for messages


@dataclass(frozen=True, slots=True)
class PlannedCopy:
    path: str
    source: str  # path of the PlannedFile whose bytes it repeats


@dataclass(frozen=True, slots=True)
class ExtractionPlan:
    dirs: tuple[str, ...]
    files: tuple[PlannedFile, ...]
    copies: tuple[PlannedCopy, ...]
    total_bytes: int


def extract_archive(archive: Path, name: str, dest: Path, max_bytes: int) -> dict[str, str]:
    """Extract `archive` (its kind read from `name`) into the new directory `dest`.

    Returns {relative path: SHA-256 hex} of the files written. On ArtifactError `dest` may hold
    part of the tree: the caller extracts into a staging directory it deletes on failure.
    """
    kind = archive_kind(name)
    if kind is None:
        raise ArtifactError(f"{name!r} is not a .tar.gz, .tgz, .tar or .zip archive")
    try:
        reader = open_archive(archive, kind)
        try:
            plan = plan_extraction(reader.entries(), max_bytes)
            return _write(plan, reader, dest, max_bytes)
        finally:
            reader.close()
    except _UNREADABLE as exc:
        raise ArtifactError(f"cannot read archive {name!r}: {exc}") from exc


def _write(
    plan: ExtractionPlan, reader: ArchiveReader, dest: Path, max_bytes: int
) -> dict[str, str]:
    """Carry out a validated plan; every path in it is a safe relpath and no link exists."""
    dest.mkdir()
    for directory in plan.dirs:
        (dest / directory).mkdir(parents=True, exist_ok=True)
    hashes: dict[str, str] = {}
    budget = max_bytes
    for item in plan.files:
        target = dest / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        too_large = f"{_WHAT} {item.name!r} holds more bytes than the archive declares"
        with reader.open(item.index) as source:
            size, hashes[item.path] = copy_hashing(
                source, target, limit=min(budget, item.size), too_large=too_large
            )
        budget -= size
    for copy in plan.copies:
        target = dest / copy.path
        target.parent.mkdir(parents=True, exist_ok=True)
        too_large = f"the archive's content exceeds the limit of {max_bytes} bytes"
        with (dest / copy.source).open("rb") as source:
            size, hashes[copy.path] = copy_hashing(
                source, target, limit=budget, too_large=too_large
            )
        budget -= size
    return hashes


def plan_extraction(entries: Iterable[RawEntry], max_bytes: int) -> ExtractionPlan:
    """Validate every entry and decide what goes where; raise ArtifactError on the first refusal."""
    files: dict[str, tuple[RawEntry, str]] = {}
    links: dict[str, tuple[RawEntry, str]] = {}  # path -> (entry, target path)
    dirs: set[str] = set()
    for entry in entries:
        path = safe_relpath(entry.name, what=_WHAT)
        if path.split("/", 1)[0] in _SKIPPED_TOPS or (not path and entry.kind == "dir"):
            continue
        if not path:
            raise ArtifactError(f"{_WHAT} {entry.name!r} has no file name")
        if entry.kind == "special":
            raise ArtifactError(
                f"{_WHAT} {entry.name!r} is a device, FIFO or socket; "
                "a model archive may hold only files, directories and links"
            )
        if path in files or path in links:
            raise ArtifactError(f"{_WHAT} {entry.name!r} appears twice in the archive")
        if entry.kind == "dir":
            dirs.add(path)
        elif entry.kind == "file":
            files[path] = (entry, "")
        else:
            links[path] = (entry, _link_target(entry, path))
    prefix = _wrapper_prefix([*files, *links, *dirs], files.keys() | links.keys())
    return _finish(
        {_strip(p, prefix): v for p, v in files.items()},
        {_strip(p, prefix): (e, _strip(t, prefix)) for p, (e, t) in links.items()},
        {_strip(p, prefix) for p in dirs} - {""},
        max_bytes,
    )


def _link_target(entry: RawEntry, path: str) -> str:
    leaves = f"{_WHAT} {entry.name!r} links to {entry.link!r}, which leaves the model directory"
    if entry.kind == "symlink":
        target = resolve_symlink(path, entry.link)
        if target is None:
            raise ArtifactError(leaves)
        return target
    try:  # a hard link names its target by archive path, not relative to itself
        return safe_relpath(entry.link, what=_WHAT)
    except ArtifactError as exc:
        raise ArtifactError(leaves) from exc


def _wrapper_prefix(paths: list[str], leaves: set[str]) -> str:
    """The prefix "top/" when every entry sits under one top-level directory, else ""."""
    tops = {path.split("/", 1)[0] for path in paths}
    if len(tops) != 1:
        return ""
    (top,) = tops
    return "" if top in leaves else f"{top}/"


def _strip(path: str, prefix: str) -> str:
    if prefix and path.startswith(prefix):
        return path[len(prefix) :]
    return "" if f"{path}/" == prefix else path


def _finish(
    files: dict[str, tuple[RawEntry, str]],
    links: dict[str, tuple[RawEntry, str]],
    dirs: set[str],
    max_bytes: int,
) -> ExtractionPlan:
    if not files:
        raise ArtifactError("the archive holds no files")
    leaves = files.keys() | links.keys()
    parents = dirs | {ancestor for path in [*leaves, *dirs] for ancestor in _ancestors(path)}
    for path in sorted(leaves & parents):
        entry = files[path][0] if path in files else links[path][0]
        raise ArtifactError(f"{_WHAT} {entry.name!r} is both a file and a directory")
    copies: list[PlannedCopy] = []
    for path, (entry, target) in sorted(links.items()):
        if target not in files:
            raise ArtifactError(
                f"{_WHAT} {entry.name!r} links to {entry.link!r}, which is not a regular file "
                "in the archive"
            )
        copies.append(PlannedCopy(path, target))
    planned = tuple(
        PlannedFile(path, entry.index, entry.size, entry.name)
        for path, (entry, _) in sorted(files.items())
    )
    total = sum(item.size for item in planned)
    total += sum(files[copy.source][0].size for copy in copies)
    if total > max_bytes:
        raise ArtifactError(
            f"the archive declares {total} bytes of content, more than the limit of "
            f"{max_bytes} bytes (max_extracted_bytes)"
        )
    return ExtractionPlan(tuple(sorted(dirs)), planned, tuple(copies), total)


def _ancestors(path: str) -> list[str]:
    """The directories that must exist to hold `path`: "a/b/c" -> ["a", "a/b"]."""
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]
