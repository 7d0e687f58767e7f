"""Bytes from remote storage into a staging directory: http(s) by urllib, s3 by fsspec.

Synchronous on purpose: the agent runs a fetch in a worker thread (`asyncio.to_thread`), and
urllib keeps aiohttp's event loop out of that thread. Each socket operation is bounded by
`timeout_s`, so a server that stops sending fails the fetch instead of hanging a load.
"""

from __future__ import annotations

import http.client
import importlib
import posixpath
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import fsspec

from agent.artifacts.digest import copy_hashing
from agent.artifacts.errors import ArtifactError
from agent.artifacts.paths import safe_relpath, single_file_name

FilesystemFactory = Callable[[str], Any]  # protocol -> fsspec.AbstractFileSystem
_USER_AGENT = "loadmaster-agent"


@dataclass(frozen=True, slots=True)
class SingleFile:
    """One downloaded file, still to be placed (or extracted) into a model directory."""

    path: Path
    name: str
    sha256: str


@dataclass(frozen=True, slots=True)
class FileTree:
    """A downloaded directory, already laid out as the model directory."""

    path: Path
    files: Mapping[str, str]  # relative path -> SHA-256 hex


def default_filesystem(protocol: str) -> Any:
    """fsspec's filesystem for `protocol`; s3 needs the optional `s3fs` package.

    s3fs is imported here first so that its absence is an ImportError whatever fsspec has
    already registered, and `open_filesystem` can name the extra to install.
    """
    if protocol == "s3":
        importlib.import_module("s3fs")
    return fsspec.filesystem(protocol)


def http_download(
    url: str, staging: Path, *, name_for: str, timeout_s: float, max_bytes: int
) -> SingleFile:
    """GET `url` into `staging/download`, hashing as it streams.

    urllib does not notice a connection closed before Content-Length bytes arrived (it just
    returns a short body), so the length is checked here; without that a truncated model
    would be cached as if it were whole.
    """
    name = single_file_name(unquote(posixpath.basename(urlsplit(url).path)))
    if name is None:
        raise ArtifactError(
            f"storageUri {name_for!r}: the URL path names no file; end it with the file name, "
            "e.g. https://host/models/iris/model.pt or .../iris.tar.gz"
        )
    dest = staging / "download"
    too_large = f"download of {url} failed: larger than the limit of {max_bytes} bytes"
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            declared = response.headers.get("Content-Length")
            expected = int(declared) if declared and declared.isdigit() else None
            if expected is not None and expected > max_bytes:
                raise ArtifactError(too_large)
            size, sha256 = copy_hashing(response, dest, limit=max_bytes, too_large=too_large)
    except urllib.error.HTTPError as exc:
        raise ArtifactError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise ArtifactError(f"download of {url} failed: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise ArtifactError(f"download of {url} failed: {type(exc).__name__}: {exc}") from exc
    if expected is not None and size != expected:
        raise ArtifactError(
            f"download of {url} failed: connection closed after {size} of {expected} bytes"
        )
    return SingleFile(dest, name, sha256)


def open_filesystem(factory: FilesystemFactory, protocol: str, name_for: str) -> Any:
    """The fsspec filesystem for `protocol`, with a missing optional extra explained."""
    try:
        return factory(protocol)
    except ImportError as exc:
        raise ArtifactError(
            f"storageUri {name_for!r}: {protocol}:// needs the s3fs package; "
            f"install loadmaster[s3] (pip install 'loadmaster[s3]')"
        ) from exc
    except Exception as exc:
        raise ArtifactError(f"storageUri {name_for!r}: cannot open {protocol}: {exc}") from exc


def fs_download(
    fs: Any, location: str, staging: Path, *, name_for: str, max_bytes: int
) -> SingleFile | FileTree:
    """Copy an object (a single file) or a prefix (a directory, recursively) into staging."""
    try:
        return _fs_download(fs, location, staging, name_for=name_for, max_bytes=max_bytes)
    except ArtifactError:
        raise
    except FileNotFoundError as exc:
        raise ArtifactError(f"storageUri {name_for!r}: no object or prefix there") from exc
    except Exception as exc:  # fsspec backends raise their own types; keep the cause visible
        raise ArtifactError(f"download of {name_for} failed: {type(exc).__name__}: {exc}") from exc


def _fs_download(
    fs: Any, location: str, staging: Path, *, name_for: str, max_bytes: int
) -> SingleFile | FileTree:
    info = fs.info(location)
    base = str(info["name"]).rstrip("/")
    too_large = f"storageUri {name_for!r}: more than the limit of {max_bytes} bytes"
    if info.get("type") != "directory":
        name = single_file_name(posixpath.basename(base))
        if name is None:
            raise ArtifactError(f"storageUri {name_for!r}: the key names no file")
        dest = staging / "download"
        with fs.open(base, "rb") as source:
            _, sha256 = copy_hashing(source, dest, limit=max_bytes, too_large=too_large)
        return SingleFile(dest, name, sha256)
    objects: dict[str, tuple[str, int]] = {}
    for key, meta in sorted(fs.find(base, withdirs=False, detail=True).items()):
        if meta.get("type") == "directory" or not str(key).startswith(f"{base}/"):
            continue
        relpath = safe_relpath(str(key)[len(base) + 1 :], what="object")
        if relpath:
            objects[relpath] = (str(key), int(meta.get("size") or 0))
    if not objects:
        raise ArtifactError(f"storageUri {name_for!r}: the prefix holds no objects")
    if sum(size for _, size in objects.values()) > max_bytes:
        raise ArtifactError(too_large)
    tree = staging / "tree"
    files: dict[str, str] = {}
    budget = max_bytes
    for relpath, (key, _) in objects.items():
        target = tree / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        with fs.open(key, "rb") as source:
            size, files[relpath] = copy_hashing(source, target, limit=budget, too_large=too_large)
        budget -= size
    return FileTree(tree, files)
