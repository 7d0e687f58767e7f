"""The cache's on-disk layout and the two atomic steps that make it crash-safe.

    root/objects/<digest>/    one model directory per distinct content, never modified
    root/uris/<sha256(key)>   JSON {"key": ..., "digest": ...}: which content a URI gave
    root/tmp/<random>/        staging; whatever is here belongs to a fetch in flight or crashed

Nothing is ever written in place under objects/ or uris/: content is assembled in tmp/ and
appears by one `rename` (same filesystem, so atomic), objects before the index entry that
names them. A crash at any point therefore leaves either no trace there or a complete entry;
its staging directory is left in tmp/, where random names keep it out of every later fetch's
way and `sweep_tmp` can remove it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from agent.artifacts.errors import ArtifactError

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class Store:
    """Paths and atomic publication; knows nothing about URIs or archives."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.uris = root / "uris"
        self.tmp = root / "tmp"
        try:
            for directory in (self.objects, self.uris, self.tmp):
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArtifactError(f"artifact cache root {root} is not usable: {exc}") from exc

    def object_path(self, digest: str) -> Path:
        return self.objects / digest

    def has_object(self, digest: str) -> bool:
        return self.object_path(digest).is_dir()

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh private directory under tmp/, removed with whatever is left in it."""
        path = self.tmp / secrets.token_hex(8)
        path.mkdir()
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def publish(self, tree: Path, digest: str) -> Path:
        """Move a complete tree to objects/<digest> and return that path.

        If the object already exists (the same bytes came from another URI, or another thread
        or process got there first) that copy is kept and `tree` stays for the staging
        cleanup: equal digests mean equal content, so either copy serves. Objects are never
        empty, so `rename` cannot silently replace an existing one (it only replaces empty
        directories); it fails, and the check below tells that apart from a real error.
        """
        target = self.object_path(digest)
        try:
            os.rename(tree, target)
        except OSError:
            if target.is_dir():
                return target
            raise
        return target

    def lookup(self, key: str) -> str | None:
        """The digest recorded for `key`, if its object is still present; otherwise None."""
        try:
            record = json.loads(self._index_path(key).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        digest = record.get("digest")
        if isinstance(digest, str) and _DIGEST.match(digest) and self.has_object(digest):
            return digest
        return None

    def remember(self, key: str, digest: str) -> None:
        """Record key -> digest atomically (write a temporary file, fsync, rename)."""
        temporary = self.tmp / f"{secrets.token_hex(8)}.json"
        try:
            with temporary.open("x", encoding="utf-8") as out:
                json.dump({"key": key, "digest": digest}, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self._index_path(key))
        finally:
            temporary.unlink(missing_ok=True)

    def sweep_tmp(self, older_than_s: float) -> int:
        """Remove staging entries not modified for `older_than_s`; return how many.

        Only the caller knows no other process shares this root with a fetch that old still
        running, so this is never done implicitly.
        """
        cutoff = time.time() - older_than_s
        removed = 0
        for entry in self.tmp.iterdir():
            try:
                if entry.lstat().st_mtime >= cutoff:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            except FileNotFoundError:
                continue
            removed += 1
        return removed

    def _index_path(self, key: str) -> Path:
        return self.uris / hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
