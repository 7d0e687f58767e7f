"""Start real Loadmaster processes on loopback for integration tests, and stop them cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_json(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    """Status and parsed JSON body of one request (error statuses are returned, not raised)."""
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@dataclass
class AgentProcess:
    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    log_path: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"agent exited with {self.process.returncode}:\n{self.log()}")
            try:
                status, _ = http_json("GET", self.url("/v2/health/ready"))
                if status == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"agent not ready after {timeout_s}s:\n{self.log()}")

    def worker_pids(self) -> list[int]:
        import psutil

        return [
            c.pid
            for c in psutil.Process(self.process.pid).children()
            if "agent.workers" in " ".join(c.cmdline())
        ]

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if the process is still there after `timeout_s`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_agent(
    workdir: Path,
    models_dir: Path | None,
    *extra: str,
    capabilities: str = "torch,python,huggingface",
    workers: int = 1,
    name: str | None = None,
) -> AgentProcess:
    http_port, grpc_port = free_port(), free_port()
    log_path = workdir / f"agent-{http_port}.log"
    command = [
        sys.executable, "-m", "loadmaster.cli.main", "--log-format", "json",
        "agent", "--name", name or f"agent-{http_port}",
        "--http-port", str(http_port), "--grpc-port", str(grpc_port),
        "--cache-dir", str(workdir / (f"cache-{name}" if name else "cache")),
        "--capabilities", capabilities, "--parallel-workers", str(workers),
        *(["--models-dir", str(models_dir)] if models_dir else []),
        *extra,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    agent = AgentProcess(process, http_port, grpc_port, log_path)
    try:
        agent.wait_ready()
    except BaseException:
        agent.stop()
        raise
    return agent
