"""Helpers for the artifact tests: the fake HTTP server's state, archive builders, probes.

The server (fixture `http_server` in conftest) serves bytes registered per path, counts
requests (to prove the cache did not download again) and can misbehave on purpose: answer
404, drop the connection mid-body, stall, or omit the length.
"""

from __future__ import annotations

import io
import stat
import tarfile
import threading
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Route:
    body: bytes = b""
    status: int = 200
    drop_after: int | None = None  # send this many body bytes, then close the connection
    send_length: bool = True
    delay_s: float = 0.0
    stall: bool = False  # send headers, then wait until the test ends


@dataclass
class FakeHttp:
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)


MemberKind = Literal["file", "dir", "symlink", "hardlink", "fifo", "chrdev"]


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes = b""
    kind: MemberKind = "file"
    link: str = ""


def tar_bytes(members: Sequence[Member], mode: Literal["w:gz", "w"] = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = {
                "file": tarfile.REGTYPE,
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
                "chrdev": tarfile.CHRTYPE,
            }[member.kind]
            info.linkname = member.link
            info.size = len(member.data) if member.kind == "file" else 0
            tar.addfile(info, io.BytesIO(member.data) if member.kind == "file" else None)
    return buffer.getvalue()


def zip_bytes(members: Sequence[Member]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            info = zipfile.ZipInfo(member.name)
            info.create_system = 3
            if member.kind == "symlink":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, member.link)
            elif member.kind == "dir":
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                archive.writestr(info, b"")
            else:
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                archive.writestr(info, member.data)
    return buffer.getvalue()


def entries_under(path: Path) -> list[str]:
    """Everything below `path` (files, dirs, links) as sorted relative POSIX paths."""
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) if path.exists() else []


def files_under(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def assert_cache_clean(root: Path) -> None:
    """Nothing published and no staging left: what a failed fetch must leave behind."""
    for area in ("objects", "uris", "tmp"):
        assert entries_under(root / area) == [], area
