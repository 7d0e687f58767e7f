"""ArtifactCache: turn a storageUri into a local model directory, downloading at most once.

Remote content is stored by what it *is* (the digest of the model directory) rather than by
where it came from, so two model versions or two URIs with the same bytes share one copy on
disk; a small index remembers which digest each remote URI gave, so the next fetch of that URI
(in this process or after an agent restart) needs no network at all. A remote URI is taken
to be immutable, as model registries treat it: publish changed bytes under a new URI. Local
directories are served in place and re-hashed on every fetch, because they do change while
users iterate on a model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.artifacts.archive import extract_archive
from agent.artifacts.archive_formats import archive_kind
from agent.artifacts.digest import copy_hashing, hash_directory, hash_file, tree_digest
from agent.artifacts.download import (
    FilesystemFactory,
    SingleFile,
    default_filesystem,
    fs_download,
    http_download,
    open_filesystem,
)
from agent.artifacts.errors import ArtifactError
from agent.artifacts.store import Store
from agent.artifacts.uri import StorageUri, parse_storage_uri

GiB = 1 << 30
DEFAULT_MAX_EXTRACTED_BYTES = 20 * GiB
DEFAULT_HTTP_TIMEOUT_S = 60.0

# (model directory, digest, served from an existing cache entry)
_Found = tuple[Path, str, bool]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """Where the model files are and what they are.

    `digest` is the SHA-256 tree digest (64 hex characters, the objects/ directory name).
    `download_s` is the wall time the fetch took: download, extraction and hashing; near zero
    when `cached`, which means an existing cache entry was reused without any download.
    """

    path: Path
    digest: str
    download_s: float
    cached: bool


class ArtifactCache:
    """Content-addressed model cache under `root`; safe to share between threads.

    `max_extracted_bytes` bounds what one fetch may write into the cache (a download, a copied
    file, or an archive's content); it does not apply to local directories used in place.
    """

    def __init__(
        self,
        root: Path,
        filesystem_factory: FilesystemFactory | None = None,
        max_extracted_bytes: int = DEFAULT_MAX_EXTRACTED_BYTES,
        *,
        http_timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
    ) -> None:
        if max_extracted_bytes <= 0:
            raise ValueError("max_extracted_bytes must be positive")
        self._store = Store(root)
        self._filesystem_factory = filesystem_factory or default_filesystem
        self._max_bytes = max_extracted_bytes
        self._http_timeout_s = http_timeout_s
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @property
    def root(self) -> Path:
        return self._store.root

    def fetch(self, uri: str) -> FetchResult:
        """Make the artifact at `uri` local; raise ArtifactError with the reason if impossible."""
        started = time.monotonic()
        parsed = parse_storage_uri(uri)
        # Two threads loading the same URI: the second waits and then hits the cache instead
        # of downloading the same bytes again. Other processes are kept safe by `publish`.
        with self._lock_for(parsed.canonical):
            try:
                path, digest, cached = self._fetch(parsed, uri)
            except OSError as exc:
                raise ArtifactError(f"storageUri {uri!r}: {exc}") from exc
        return FetchResult(path, digest, time.monotonic() - started, cached)

    def sweep_tmp(self, older_than_s: float = 86_400.0) -> int:
        """Delete staging left by crashed fetches; see `Store.sweep_tmp` for when it is safe."""
        return self._store.sweep_tmp(older_than_s)

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _fetch(self, uri: StorageUri, text: str) -> _Found:
        if uri.scheme == "file":
            return self._fetch_local(Path(uri.location), text)
        if uri.scheme == "s3":
            return self._fetch_indexed(uri.canonical, lambda staging: self._s3(uri, text, staging))
        return self._fetch_indexed(uri.canonical, lambda staging: self._http(uri, text, staging))

    def _fetch_local(self, given: Path, text: str) -> _Found:
        try:
            path = given.resolve(strict=True)
        except FileNotFoundError as exc:
            raise ArtifactError(f"storageUri {text!r}: {given.absolute()} does not exist") from exc
        except RuntimeError as exc:  # a symlink loop (Python < 3.13 raises RuntimeError)
            raise ArtifactError(f"storageUri {text!r}: {exc}") from exc
        if path.is_dir():
            return path, hash_directory(path), False
        if not path.is_file():
            raise ArtifactError(f"storageUri {text!r}: {path} is neither a file nor a directory")
        kind = archive_kind(path.name)
        if kind is not None:
            # Keyed by the archive's bytes, not its path: a rewritten archive is a new entry.
            # Only the extracted content is written to the cache, so only it is size-limited.
            source = SingleFile(path, path.name, hash_file(path))
            return self._fetch_indexed(
                f"archive:{kind}:sha256:{source.sha256}",
                lambda staging: self._extract(source, text, staging),
            )
        if path.stat().st_size > self._max_bytes:
            raise ArtifactError(
                f"storageUri {text!r}: {path} is larger than the limit of {self._max_bytes} bytes"
            )
        sha256 = hash_file(path)
        digest = tree_digest({path.name: sha256})
        if self._store.has_object(digest):
            return self._store.object_path(digest), digest, True
        with self._store.staging() as staging:
            tree = staging / "tree"
            tree.mkdir()
            too_large = (
                f"storageUri {text!r}: {path} grew past {self._max_bytes} bytes while copied"
            )
            with path.open("rb") as source_file:
                _, copied = copy_hashing(
                    source_file, tree / path.name, limit=self._max_bytes, too_large=too_large
                )
            digest = tree_digest({path.name: copied})  # the bytes copied, should it have changed
            return self._store.publish(tree, digest), digest, False

    def _fetch_indexed(self, key: str, produce: Callable[[Path], tuple[Path, str]]) -> _Found:
        """Reuse what `key` gave before, or produce a tree in staging and publish it."""
        known = self._store.lookup(key)
        if known is not None:
            return self._store.object_path(known), known, True
        with self._store.staging() as staging:
            tree, digest = produce(staging)
            path = self._store.publish(tree, digest)
        self._store.remember(key, digest)
        return path, digest, False

    def _http(self, uri: StorageUri, text: str, staging: Path) -> tuple[Path, str]:
        downloaded = http_download(
            uri.location,
            staging,
            name_for=text,
            timeout_s=self._http_timeout_s,
            max_bytes=self._max_bytes,
        )
        return self._place(downloaded, text, staging)

    def _s3(self, uri: StorageUri, text: str, staging: Path) -> tuple[Path, str]:
        fs = open_filesystem(self._filesystem_factory, uri.scheme, text)
        downloaded = fs_download(
            fs, uri.location, staging, name_for=text, max_bytes=self._max_bytes
        )
        if isinstance(downloaded, SingleFile):
            return self._place(downloaded, text, staging)
        return downloaded.path, tree_digest(downloaded.files)

    def _place(self, downloaded: SingleFile, text: str, staging: Path) -> tuple[Path, str]:
        """A downloaded file becomes the model directory: extracted, or moved in by name."""
        if archive_kind(downloaded.name) is not None:
            return self._extract(downloaded, text, staging)
        tree = staging / "tree"
        tree.mkdir()
        downloaded.path.rename(tree / downloaded.name)
        return tree, tree_digest({downloaded.name: downloaded.sha256})

    def _extract(self, archive: SingleFile, text: str, staging: Path) -> tuple[Path, str]:
        tree = staging / "tree"
        try:
            files = extract_archive(archive.path, archive.name, tree, self._max_bytes)
        except ArtifactError as exc:
            raise ArtifactError(f"storageUri {text!r}: {exc}") from exc
        return tree, tree_digest(files)
