"""Parsing `spec.storageUri`: which storage backend and where inside it.

Parsing happens before any I/O so that a typo ("s3:/bucket", "ftp://...") fails with a message
about the URI itself rather than a confusing "file not found" from the wrong backend. Only the
`scheme://` form counts as a URI: a plain path may contain a colon ("models/iris:v1").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from agent.artifacts.errors import ArtifactError

Scheme = Literal["file", "http", "https", "s3"]
SCHEMES: tuple[Scheme, ...] = ("file", "http", "https", "s3")

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
_SCHEME_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HINT = "use a path, file://, http(s):// or s3://"


@dataclass(frozen=True, slots=True)
class StorageUri:
    """A parsed storageUri.

    `location` is what the backend needs: a local path (absolute or relative to the agent's
    working directory) for "file", the whole URL for "http"/"https", and "bucket/key" for "s3".
    """

    scheme: Scheme
    location: str

    @property
    def canonical(self) -> str:
        """One spelling per artifact: the cache index and the per-URI lock key on it."""
        if self.scheme in ("http", "https"):
            return self.location
        return f"{self.scheme}://{self.location}"


def parse_storage_uri(text: str) -> StorageUri:
    """Split a storageUri into scheme and location; raise ArtifactError if it cannot be used."""
    if not text.strip():
        raise ArtifactError(f"storageUri is empty; {_HINT}")
    if text != text.strip():
        raise ArtifactError(f"storageUri {text!r}: remove the leading or trailing whitespace")
    if _CONTROL.search(text):
        raise ArtifactError(f"storageUri {text!r}: contains a control character")
    match = _URI.match(text)
    if match is None:
        prefix = _SCHEME_PREFIX.match(text)
        if prefix is not None and prefix.group(1).lower() in SCHEMES:
            scheme = prefix.group(1).lower()
            raise ArtifactError(f"storageUri {text!r}: malformed; expected {scheme}://...")
        return StorageUri("file", text)
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme == "file":
        return StorageUri("file", _file_location(text, rest))
    if scheme == "http":
        return StorageUri("http", _http_location(text))
    if scheme == "https":
        return StorageUri("https", _http_location(text))
    if scheme == "s3":
        return StorageUri("s3", _s3_location(text, rest))
    raise ArtifactError(f"storageUri {text!r}: unsupported scheme {scheme!r}; {_HINT}")


def _file_location(text: str, rest: str) -> str:
    # Like KServe, "file://" is a prefix, not an RFC 8089 authority: "file://models/iris" is the
    # relative path "models/iris". Only the "localhost" authority is understood and dropped.
    if rest.startswith("localhost/"):
        rest = rest[len("localhost") :]
    if not rest:
        raise ArtifactError(f"storageUri {text!r}: names no path; e.g. file:///models/iris")
    return rest


def _http_location(text: str) -> str:
    if any(char.isspace() for char in text):
        raise ArtifactError(f"storageUri {text!r}: contains whitespace; percent-encode it")
    parts = urlsplit(text)
    if not parts.hostname:
        raise ArtifactError(f"storageUri {text!r}: names no host; e.g. https://host/model.pt")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port only when it is read
    except ValueError as exc:
        raise ArtifactError(f"storageUri {text!r}: invalid port ({exc})") from exc
    return text


def _s3_location(text: str, rest: str) -> str:
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ArtifactError(f"storageUri {text!r}: names no bucket; e.g. s3://bucket/models/iris")
    if any(char.isspace() for char in rest):
        raise ArtifactError(f"storageUri {text!r}: contains whitespace")
    key = key.rstrip("/")
    return f"{bucket}/{key}" if key else bucket
