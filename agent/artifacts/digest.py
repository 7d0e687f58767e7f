"""Content digests: what makes two artifacts "the same" to the cache.

A model directory's digest is a SHA-256 over the sorted list of (relative path, SHA-256 of the
file's bytes) for every regular file. Paths count, because runtimes find files by name; empty
directories, permissions and timestamps do not, because no runtime reads them, and leaving
them out lets the same model from a tarball, a zip, a bucket or a local directory share one
digest. File hashes are computed while the bytes stream to disk, so a download is read once.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from agent.artifacts.errors import ArtifactError

CHUNK_BYTES = 1 << 20


class Readable(Protocol):
    """What `copy_hashing` reads from: a file, an HTTP response, an archive member."""

    def read(self, size: int, /) -> bytes: ...


def tree_digest(files: Mapping[str, str]) -> str:
    """Digest of a model directory given {relative POSIX path: file SHA-256 hex}.

    NUL cannot occur in a path and newline ends each fixed-size hash, so the encoding is
    unambiguous: no two different trees produce the same byte stream.
    """
    outer = hashlib.sha256()
    for path in sorted(files):
        outer.update(path.encode("utf-8", "surrogateescape"))
        outer.update(b"\x00")
        outer.update(files[path].encode("ascii"))
        outer.update(b"\n")
    return outer.hexdigest()


def hash_file(path: Path) -> str:
    """SHA-256 hex of one file's bytes."""
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def hash_directory(root: Path) -> str:
    """`tree_digest` of a directory on disk, following symlinks (the runtime will follow them).

    A directory reached twice through symlinks is hashed once, which also stops link cycles.
    A FIFO, socket or device is refused: opening a FIFO to hash it would block forever.
    """

    def fail(exc: OSError) -> None:
        raise ArtifactError(f"cannot read {exc.filename}: {exc.strerror}") from exc

    files: dict[str, str] = {}
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, onerror=fail, followlinks=True):
        info = os.stat(dirpath)
        if (info.st_dev, info.st_ino) in seen:
            dirnames.clear()
            continue
        seen.add((info.st_dev, info.st_ino))
        for name in filenames:
            path = Path(dirpath) / name
            try:
                mode = path.stat().st_mode
            except OSError as exc:
                raise ArtifactError(f"cannot read {path}: {exc.strerror}") from exc
            if not stat.S_ISREG(mode):
                raise ArtifactError(f"{path} is not a regular file; remove it from the model")
            files[path.relative_to(root).as_posix()] = hash_file(path)
    return tree_digest(files)


def copy_hashing(source: Readable, dest: Path, *, limit: int, too_large: str) -> tuple[int, str]:
    """Stream `source` into a new file `dest`; return (bytes written, SHA-256 hex).

    `dest` must not exist ("xb"): the cache never overwrites, so it never writes through a
    symlink either. More than `limit` bytes raises ArtifactError(too_large) as soon as the
    limit is crossed, so a hostile source cannot fill the disk. The file is fsync'ed because
    the caller publishes it by rename, and a rename that survives a power cut must not point
    at bytes that did not.
    """
    digest = hashlib.sha256()
    written = 0
    with dest.open("xb") as out:
        while chunk := source.read(CHUNK_BYTES):
            written += len(chunk)
            if written > limit:
                raise ArtifactError(too_large)
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return written, digest.hexdigest()
