"""What every benchmark in `bench/` shares: options, child processes, CPU accounting, output.

Benchmarks start real processes on loopback, drive them with a load generator, and print what
they measured next to a peer measured in the same run. They never assert on timings; a
benchmark fails (raises `BenchError`) only when it cannot run at all, e.g. a server that never
became ready.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PROJECT_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


class BenchError(RuntimeError):
    """The benchmark could not run (not: the numbers were bad; those are only printed)."""


@dataclass(frozen=True, slots=True)
class Options:
    """What `bench/run.py` was asked for; each benchmark reads what applies to it."""

    duration_s: float = 10.0
    warmup_s: float = 2.0
    quick: bool = False
    results_dir: Path = RESULTS_DIR


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


class ServerProcess:
    """A server started in its own session, so that stopping it stops its workers too."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, url: str, timeout_s: float = 180.0) -> float:
        """Poll `url` until it answers 200; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if not self.alive():
                raise BenchError(
                    f"{self.name} exited with code {self.process.returncode} before it was "
                    f"ready; the end of {self.log_path}:\n{self.log_tail()}"
                )
            if http_status(url) == 200:
                return time.monotonic() - started
            time.sleep(0.25)
        raise BenchError(
            f"{self.name} was not ready at {url} after {timeout_s:.0f}s; "
            f"the end of {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to the server's process group, SIGKILL to what is left after the timeout."""
        group = self.process.pid
        if self.alive():
            _signal_group(group, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {timeout_s:.0f}s of SIGTERM; killing it")
        _signal_group(group, signal.SIGKILL)  # stragglers: workers the server left behind
        if self.process.poll() is None:
            self.process.wait(timeout=10)
        self._log.close()


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def http_status(url: str, timeout_s: float = 2.0) -> int:
    """The status of a GET, 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def http_post(url: str, body: bytes, content_type: str = "application/json") -> bytes:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data: bytes = response.read()
        return data


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """CPU seconds (user + system) so far: per process of a server's tree, and the machine's."""

    taken_at: float
    by_pid: dict[int, float]
    machine_busy_s: float


def cpu_snapshot(root_pid: int) -> CpuSnapshot:
    """The CPU time of `root_pid` and every descendant, and all CPUs' non-idle time."""
    by_pid: dict[int, float] = {}
    try:
        root = psutil.Process(root_pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            by_pid[process.pid] = times.user + times.system
    except psutil.Error:
        pass
    return CpuSnapshot(time.monotonic(), by_pid, machine_busy_s())


def machine_busy_s() -> float:
    """Non-idle CPU seconds of all CPUs since boot."""
    machine = psutil.cpu_times()
    busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
    return float(busy + getattr(machine, "steal", 0.0))


def wait_for_quiet(threshold_cores: float, max_wait_s: float, window_s: float = 1.0) -> float:
    """Wait (at most `max_wait_s`) until the machine uses less than `threshold_cores`.

    Call it while the benchmark's own processes are idle: whatever is busy then is someone
    else's work sharing the machine. Returns the last reading, in cores.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        start_busy, start = machine_busy_s(), time.monotonic()
        time.sleep(window_s)
        busy = (machine_busy_s() - start_busy) / (time.monotonic() - start)
        if busy < threshold_cores or time.monotonic() >= deadline:
            return busy


@dataclass(frozen=True, slots=True)
class CpuUsage:
    """CPU used over an interval, in cores (1.0 = one core busy the whole interval)."""

    server_root: float
    server_children: float
    machine: float

    @property
    def server(self) -> float:
        return self.server_root + self.server_children

    def as_json(self) -> dict[str, float]:
        return {
            "server_frontend_cores": round(self.server_root, 3),
            "server_workers_cores": round(self.server_children, 3),
            "machine_busy_cores": round(self.machine, 3),
        }


def cpu_usage(root_pid: int, before: CpuSnapshot, after: CpuSnapshot) -> CpuUsage:
    """What the server tree (root vs descendants) and the machine used between two snapshots.

    A process that exited in between is missing from `after` and counts nothing; one that
    started in between counts from zero.
    """
    elapsed = max(after.taken_at - before.taken_at, 1e-9)
    root = after.by_pid.get(root_pid, 0.0) - before.by_pid.get(root_pid, 0.0)
    children = sum(
        spent - before.by_pid.get(pid, 0.0)
        for pid, spent in after.by_pid.items()
        if pid != root_pid
    )
    machine = after.machine_busy_s - before.machine_busy_s
    return CpuUsage(root / elapsed, children / elapsed, machine / elapsed)


@dataclass(frozen=True, slots=True)
class Measured:
    """A finished command's output, wall time and CPU time (from its own rusage)."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float


def run_measured(argv: Sequence[str], timeout_s: float) -> Measured:
    """Run `argv` to the end; its CPU time comes from wait4, so it is that process's alone."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        timer = threading.Timer(timeout_s, process.kill)
        timer.start()
        try:
            _, status, rusage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if process.returncode == -signal.SIGKILL:
            raise BenchError(f"{argv[0]} ran past {timeout_s:.0f}s and was killed")
        out.seek(0)
        err.seek(0)
        return Measured(
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            wall,
            rusage.ru_utime + rusage.ru_stime,
        )


def write_results(path: Path, document: Mapping[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, numbers right-aligned, for the terminal and for Markdown alike."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = []
        for index, cell in enumerate(cells):
            numeric = cell[:1].isdigit() or (cell[:1] in "-+" and cell[1:2].isdigit())
            parts.append(cell.rjust(widths[index]) if numeric else cell.ljust(widths[index]))
        return "| " + " | ".join(parts) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), separator, *(line(row) for row in rows)])
