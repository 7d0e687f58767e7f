"""`loadmaster down`: stop a cluster's processes, keep its data.

The record's pids are checked against their start times before anything is signalled, so a
pid reused by an unrelated process is left alone. When a foreground `loadmaster up` still
watches the cluster, it is asked to stop it (SIGTERM, as Ctrl-C would): it owns the parts, reaps
them, and would otherwise report each one as having died. etcd's data stays in DIR, so the
next `up` on DIR brings the same models back.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from loadmaster.local_cluster.current import clear_current
from loadmaster.local_cluster.layout import DataDir
from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.processes import Handle, PidHandle, find_process
from loadmaster.local_cluster.record import ClusterRecord, read_record, write_record
from loadmaster.local_cluster.stopping import stop_all


class NoCluster(Exception):
    """DIR holds no cluster record: `up` never ran there."""


def running_parts(record: ClusterRecord) -> list[tuple[PartKind, Handle]]:
    """The record's parts that still run, as handles to stop."""
    handles: list[tuple[PartKind, Handle]] = []
    for part in record.parts:
        process = find_process(part.pid, part.started)
        if process is not None:
            handles.append((part.kind, PidHandle(part.name, process)))
    return handles


@dataclass(frozen=True, slots=True)
class DownOutcome:
    """`running`: the parts that were running when `down` began; `killed`: those among them
    that needed SIGKILL. Parts a foreground `up` stopped count as running, not killed."""

    running: tuple[str, ...]
    killed: tuple[str, ...]


def down(
    data_dir: Path,
    current_file: Path,
    grace_s: float,
    say: Callable[[str], None],
) -> DownOutcome:
    """Stop what runs from `data_dir` and clear its pids (and the current pointer to it).
    Raises NoCluster, or BadRecord for an unreadable cluster.json."""
    layout = DataDir(data_dir)
    record = read_record(layout.record)
    if record is None:
        raise NoCluster(f"no cluster in {data_dir} (no {layout.record.name}); nothing to stop")
    running = tuple(handle.name for _, handle in running_parts(record))
    supervisor = find_process(record.supervisor_pid, record.supervisor_started)
    if supervisor is not None and supervisor.pid != os.getpid():
        say(f"asking `loadmaster up` (pid {supervisor.pid}) to stop the cluster")
        _stop_supervisor(supervisor, grace_s, say)
        record = read_record(layout.record) or record
    outcome = stop_all(running_parts(record), grace_s, time.monotonic, time.sleep, say=say)
    write_record(layout.record, record.stopped())
    clear_current(current_file, data_dir)
    return DownOutcome(running, outcome.killed)


def _stop_supervisor(
    supervisor: psutil.Process, grace_s: float, say: Callable[[str], None]
) -> None:
    """SIGTERM the foreground `up` and wait while it stops the parts group by group."""
    try:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=5 * grace_s + 10)
    except psutil.TimeoutExpired:
        say(f"`loadmaster up` (pid {supervisor.pid}) did not finish; stopping the parts directly")
    except psutil.Error:
        pass  # it is gone already
