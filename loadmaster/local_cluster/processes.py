"""Child processes: spawning a part, and one handle shape for a child and a recorded pid.

Every part starts in its own session (its own process group, no controlling terminal):
Ctrl-C in the terminal then reaches only `loadmaster up`, which stops the parts in order,
instead of every part at once; a detached part survives its parent and the terminal closing;
and SIGKILL can go to the whole group, so a part's own children (an agent's workers) never
outlive it.

`PopenHandle` wraps a child of this process (it reaps it); `PidHandle` is a recorded pid seen
from a later command (`loadmaster down`), checked against the recorded start time so a reused
pid is never mistaken for a part.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import psutil

from loadmaster.local_cluster.parts import PartPlan

# psutil's create_time is rounded; a reused pid differs by far more than this.
_START_TIME_SLACK_S = 1.0


class Handle(Protocol):
    """A running (or finished) part, as stopping and supervising need it."""

    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int: ...

    def running(self) -> bool:
        """False once the process has exited (reaping it if it is our child)."""
        ...

    def exit_status(self) -> int | None:
        """The exit status when known (our own child), else None."""
        ...

    def terminate(self) -> None:
        """SIGTERM to the part's main process: it shuts down in its own orderly way."""
        ...

    def kill(self) -> None:
        """SIGKILL to the part's whole process group, its leftover children included."""
        ...


class PopenHandle:
    def __init__(self, name: str, process: subprocess.Popen[bytes]) -> None:
        self._name = name
        self.process = process

    @property
    def name(self) -> str:
        return self._name

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def exit_status(self) -> int | None:
        return self.process.poll()

    def terminate(self) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        _kill_group(self.pid)
        self.process.poll()


class PidHandle:
    """A part started by another `loadmaster` process, known by its recorded pid."""

    def __init__(self, name: str, process: psutil.Process) -> None:
        self._name = name
        self.process = process

    @property
    def name(self) -> str:
        return self._name

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        try:
            return self.process.is_running() and self.process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def exit_status(self) -> int | None:
        return None

    def terminate(self) -> None:
        if self.running():
            with contextlib.suppress(psutil.Error):
                self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        _kill_group(self.pid)


def find_process(pid: int | None, started: float | None) -> psutil.Process | None:
    """The live process with this pid and start time; None if it has gone (or is another)."""
    if pid is None or started is None:
        return None
    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - started) > _START_TIME_SLACK_S:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return process


def start_time(pid: int) -> float | None:
    """The process's creation time, to record beside its pid."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def spawn(part: PartPlan, log_path: Path, cwd: Path, environ: Mapping[str, str]) -> PopenHandle:
    """Start `part` in its own session, appending its output to `log_path`."""
    env = dict(environ, PYTHONUNBUFFERED="1")
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    with log_path.open("ab") as log:
        log.write(f"--- loadmaster up: starting {part.name} at {stamp} ---\n".encode())
        log.flush()
        process = subprocess.Popen(
            part.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    return PopenHandle(part.name, process)


def _kill_group(pid: int) -> None:
    """SIGKILL the process group a part leads (its pid, since it started its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
