"""A real cluster on loopback for integration tests: etcd, the scheduler, agents joined to it.

The scheduler runs as its own process (`loadmaster scheduler`), so a test can `kill -9` it and
start it again on the same ports and the same etcd, which is the restart users live through.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.integration.harness import ROOT, free_port, stop_process

T = TypeVar("T")


@dataclass
class SchedulerProcess:
    store: str
    admin_port: int
    agent_port: int
    metrics_port: int
    log_path: Path
    extra: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def admin(self) -> str:
        return f"127.0.0.1:{self.admin_port}"

    @property
    def agents(self) -> str:
        return f"127.0.0.1:{self.agent_port}"

    def start(self) -> SchedulerProcess:
        command = [
            sys.executable, "-m", "loadmaster.cli.main", "--log-format", "json", "scheduler",
            "--store", self.store, "--admin-port", str(self.admin_port),
            "--agent-port", str(self.agent_port), "--metrics-port", str(self.metrics_port),
            *self.extra,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env
            )
        wait_until(self._answers, 30.0, "the scheduler to answer", self.log)
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"scheduler exited with {self.process.returncode}:\n{self.log()}")
        result = cli("server", "list", scheduler=self.admin, check=False)
        return result.returncode == 0

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush; what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def new_scheduler(workdir: Path, store: str, *extra: str) -> SchedulerProcess:
    return SchedulerProcess(
        store, free_port(), free_port(), free_port(), workdir / "scheduler.log", extra
    )


def cli(
    *args: str, scheduler: str, check: bool = True, timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`loadmaster ARGS --scheduler ADDR` in its own process, as a user would run it."""
    command = [sys.executable, "-m", "loadmaster.cli.main", *args]
    env = dict(os.environ, LOADMASTER_SCHEDULER=scheduler)
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"loadmaster {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


def cli_json(*args: str, scheduler: str) -> Any:
    return json.loads(cli(*args, "--json", scheduler=scheduler).stdout)


def wait_until(
    probe: Callable[[], T | bool | None],
    timeout_s: float,
    what: str,
    context: Callable[[], str] = lambda: "",
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` and `context()`."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last  # type: ignore[return-value]
        time.sleep(0.1)
    raise AssertionError(
        f"timed out after {timeout_s}s waiting for {what}; last: {last}\n{context()}"
    )
