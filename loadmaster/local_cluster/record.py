"""`DIR/cluster.json`: what `loadmaster up` started, for `down`, `status` and the CLI to act on.

Each part is recorded with its pid *and* the process's start time: a pid alone can name an
unrelated process after the cluster died and the pid was reused, and `down` must never signal
that. `down` clears the pids but keeps the rest (ports, endpoints), so the file still says what
the data dir last ran. The file is replaced atomically, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadmaster.local_cluster.parts import PartKind

FORMAT_VERSION = 1


class BadRecord(Exception):
    """cluster.json exists but cannot be read as a cluster record."""


@dataclass(frozen=True, slots=True)
class PartRecord:
    """`pid` is None when the part is not running (never started, or stopped); `started` is
    the process's creation time (seconds since the epoch, as the OS reports it)."""

    name: str
    kind: PartKind
    ports: dict[str, int] = field(default_factory=dict)
    pid: int | None = None
    started: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "pid": self.pid,
            "started": self.started,
            "ports": dict(self.ports),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> PartRecord:
        pid, started = data.get("pid"), data.get("started")
        return PartRecord(
            name=str(data["name"]),
            kind=PartKind(data["kind"]),
            ports={str(k): int(v) for k, v in dict(data.get("ports") or {}).items()},
            pid=int(pid) if pid is not None else None,
            started=float(started) if started is not None else None,
        )


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    """`supervisor_pid` is the foreground `loadmaster up` watching the parts (None when
    detached); `started_at` is an ISO 8601 UTC time; `cwd` is where the parts run."""

    data_dir: str
    cwd: str
    started_at: str
    detached: bool
    parts: tuple[PartRecord, ...]
    endpoints: dict[str, str] = field(default_factory=dict)
    supervisor_pid: int | None = None
    supervisor_started: float | None = None

    def part(self, name: str) -> PartRecord | None:
        return next((p for p in self.parts if p.name == name), None)

    def of_kind(self, kind: PartKind) -> tuple[PartRecord, ...]:
        return tuple(p for p in self.parts if p.kind is kind)

    @property
    def admin(self) -> str | None:
        """The scheduler's admin address, from its recorded port."""
        scheduler = next(iter(self.of_kind(PartKind.SCHEDULER)), None)
        if scheduler is None or "admin" not in scheduler.ports:
            return None
        return f"127.0.0.1:{scheduler.ports['admin']}"

    def with_part(self, updated: PartRecord) -> ClusterRecord:
        parts = tuple(updated if p.name == updated.name else p for p in self.parts)
        return replace(self, parts=parts)

    def stopped(self) -> ClusterRecord:
        """The same record with no pid left: what `down` (or a finished `up`) writes."""
        parts = tuple(replace(p, pid=None, started=None) for p in self.parts)
        return replace(self, parts=parts, supervisor_pid=None, supervisor_started=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "data_dir": self.data_dir,
            "cwd": self.cwd,
            "started_at": self.started_at,
            "detached": self.detached,
            "supervisor_pid": self.supervisor_pid,
            "supervisor_started": self.supervisor_started,
            "endpoints": dict(self.endpoints),
            "parts": [p.to_json() for p in self.parts],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> ClusterRecord:
        if data.get("version") != FORMAT_VERSION:
            raise BadRecord(f"unknown format version {data.get('version')!r}")
        pid, started = data.get("supervisor_pid"), data.get("supervisor_started")
        return ClusterRecord(
            data_dir=str(data["data_dir"]),
            cwd=str(data["cwd"]),
            started_at=str(data["started_at"]),
            detached=bool(data["detached"]),
            parts=tuple(PartRecord.from_json(p) for p in data["parts"]),
            endpoints={str(k): str(v) for k, v in dict(data.get("endpoints") or {}).items()},
            supervisor_pid=int(pid) if pid is not None else None,
            supervisor_started=float(started) if started is not None else None,
        )


def write_record(path: Path, record: ClusterRecord) -> None:
    write_json_atomically(path, record.to_json())


def read_record(path: Path) -> ClusterRecord | None:
    """The record at `path`; None when there is none; BadRecord when it is unreadable."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BadRecord(f"{path}: {exc}") from None
    try:
        return ClusterRecord.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadRecord(f"{path}: not a cluster record ({exc!r})") from None


def write_json_atomically(path: Path, data: object) -> None:
    """Write to a temp file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
