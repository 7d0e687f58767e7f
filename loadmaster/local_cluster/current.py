"""The "current" cluster: which data dir the last `loadmaster up` on this machine used.

`$XDG_STATE_HOME/loadmaster/current.json` (default `~/.local/state/loadmaster/current.json`)
holds only that data dir's path; everything else (ports, pids) is read from the dir's own
`cluster.json`, so there is one source of truth and a pointer can never disagree with it. This
is how `loadmaster model list` finds a cluster started with `up --admin-port 19004` without
being told, much as kubectl has a current context.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from loadmaster.local_cluster.layout import ENV_DATA_DIR, DataDir, default_data_dir
from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.processes import find_process
from loadmaster.local_cluster.record import BadRecord, read_record, write_json_atomically

ENV_STATE_HOME = "XDG_STATE_HOME"


def current_path(environ: Mapping[str, str] = os.environ, home: Path | None = None) -> Path:
    """Where the pointer lives; a relative `$XDG_STATE_HOME` is ignored, as the spec says."""
    state = environ.get(ENV_STATE_HOME, "")
    root = Path(state) if state and Path(state).is_absolute() else None
    if root is None:
        root = (home or Path.home()) / ".local" / "state"
    return root / "loadmaster" / "current.json"


def write_current(path: Path, data_dir: Path) -> None:
    write_json_atomically(path, {"data_dir": str(data_dir)})


def read_current(path: Path) -> Path | None:
    """The data dir the pointer names; None when there is no (readable) pointer."""
    try:
        data = json.loads(path.read_text("utf-8"))
        return Path(data["data_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def clear_current(path: Path, data_dir: Path) -> bool:
    """Remove the pointer if it names `data_dir` (another cluster's pointer stays)."""
    if read_current(path) != data_dir:
        return False
    path.unlink(missing_ok=True)
    return True


def current_admin(path: Path) -> str | None:
    """The current cluster's admin address, if that cluster's scheduler is running."""
    data_dir = read_current(path)
    if data_dir is None:
        return None
    try:
        record = read_record(DataDir(data_dir).record)
    except BadRecord:
        return None
    if record is None:
        return None
    for scheduler in record.of_kind(PartKind.SCHEDULER):
        if find_process(scheduler.pid, scheduler.started) is not None:
            return record.admin
    return None


def cluster_dir(
    flag: Path | None, environ: Mapping[str, str], cwd: Path, current_file: Path
) -> Path:
    """The data dir `down` and `status` act on: `--data-dir`, `$LOADMASTER_DATA_DIR`,
    `./.loadmaster` when a cluster record is there, else the current cluster's dir (so they
    work from any directory), else `./.loadmaster` (whose missing record is then reported)."""
    if flag is not None:
        return flag if flag.is_absolute() else cwd / flag
    if environ.get(ENV_DATA_DIR):
        return default_data_dir(environ, cwd)
    local = default_data_dir({}, cwd)
    if DataDir(local).record.exists():
        return local
    return read_current(current_file) or local
