"""A one-agent Loadmaster cluster on loopback for benchmarks: scheduler, agent, gateway.

Each part is a real process started the way a user starts it (`loadmaster scheduler --store
memory://`, `loadmaster agent --scheduler ...`, `loadmaster gateway`), and the model is loaded
through the CLI and the admin API, so what a benchmark measures is the deployed path, routing
table and all. CPU accounting is per part, so a benchmark can say who used the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.common import (
    BenchError,
    CpuSnapshot,
    ServerProcess,
    cpu_snapshot,
    cpu_usage,
    free_port,
)

AGENT_MEMORY = "4Gi"
MODEL_MEMORY = "100Mi"
READY_TIMEOUT_S = 120.0


def launcher() -> list[str]:
    """`loadmaster` from the venv this runs in (the console script, else `-m`)."""
    console = Path(sys.executable).with_name("loadmaster")
    return [str(console)] if console.exists() else [sys.executable, "-m", "loadmaster.cli.main"]


def server_env(torch_threads: int = 1) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(torch_threads)
    return env


@dataclass(frozen=True, slots=True)
class Ports:
    admin: int
    agents: int
    scheduler_metrics: int
    agent_http: int
    agent_grpc: int
    gateway_http: int
    gateway_grpc: int

    @staticmethod
    def pick() -> Ports:
        return Ports(*(free_port() for _ in range(7)))


@dataclass(frozen=True, slots=True)
class PartUsage:
    """CPU used by each part of the cluster over one interval, in cores."""

    agent_front: float
    agent_workers: float
    gateway: float
    scheduler: float
    machine: float

    @property
    def cluster(self) -> float:
        return self.agent_front + self.agent_workers + self.gateway + self.scheduler

    def as_json(self) -> dict[str, float]:
        return {
            "agent_front_cores": round(self.agent_front, 3),
            "agent_workers_cores": round(self.agent_workers, 3),
            "gateway_cores": round(self.gateway, 3),
            "scheduler_cores": round(self.scheduler, 3),
            "machine_busy_cores": round(self.machine, 3),
        }


Snapshots = dict[str, CpuSnapshot]


class LocalCluster:
    """Scheduler (memory store) + one agent + one gateway; `start`, `load`, then `stop`."""

    def __init__(
        self, work: Path, logs: Path, agent_workers: int = 1, gateway_args: Sequence[str] = ()
    ) -> None:
        self.work = work
        self.logs = logs
        self.agent_workers = agent_workers
        self.gateway_args = list(gateway_args)  # extra flags, e.g. --kafka-bootstrap
        self.ports = Ports.pick()
        self.parts: dict[str, ServerProcess] = {}

    # ---- addresses ------------------------------------------------------------------------

    @property
    def admin(self) -> str:
        return f"127.0.0.1:{self.ports.admin}"

    def agent_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.ports.agent_http}{path}"

    def gateway_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.ports.gateway_http}{path}"

    # ---- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start all three; returns once the agent and the gateway say they are ready."""
        p, cli = self.ports, launcher()
        self._spawn("scheduler", [
            *cli, "--log-format", "json", "scheduler", "--store", "memory://",
            "--admin-port", str(p.admin), "--agent-port", str(p.agents),
            "--metrics-port", str(p.scheduler_metrics),
        ])  # fmt: skip
        self.parts["scheduler"].wait_ready(
            f"http://127.0.0.1:{p.scheduler_metrics}/metrics", READY_TIMEOUT_S
        )
        self._spawn("agent", [
            *cli, "--log-format", "json", "agent", "--name", "bench",
            "--scheduler", f"127.0.0.1:{p.agents}", "--memory", AGENT_MEMORY,
            "--capabilities", "torch", "--http-port", str(p.agent_http),
            "--grpc-port", str(p.agent_grpc), "--cache-dir", str(self.work / "agent-cache"),
            "--parallel-workers", str(self.agent_workers),
            "--drain-timeout", "1",  # nowhere to move the replica to; do not wait for it
        ])  # fmt: skip
        self._spawn("gateway", [
            *cli, "--log-format", "json", "gateway", "--scheduler", self.admin,
            "--http-port", str(p.gateway_http), "--grpc-port", str(p.gateway_grpc),
            *self.gateway_args,
        ])  # fmt: skip
        self.parts["agent"].wait_ready(self.agent_url("/v2/health/ready"), READY_TIMEOUT_S)
        self.parts["gateway"].wait_ready(self.gateway_url("/v2/health/ready"), READY_TIMEOUT_S)

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.parts[name] = ServerProcess(
            name, argv, self.logs / f"{name}.log", server_env(), cwd=self.work
        )

    def stop(self) -> None:
        for name in ("gateway", "agent", "scheduler"):  # clients of the scheduler first
            part = self.parts.pop(name, None)
            if part is not None:
                part.stop()

    def check_alive(self, during: str) -> None:
        for name, part in self.parts.items():
            if not part.alive():
                raise BenchError(
                    f"{name} exited during {during}; the end of {part.log_path}:\n{part.log_tail()}"
                )

    # ---- the model -----------------------------------------------------------------------

    def load(self, name: str, model_dir: Path, timeout_s: float = READY_TIMEOUT_S) -> float:
        """`loadmaster model load` one replica and wait until it is Available; returns seconds."""
        spec = self.work / f"{name}.yaml"
        spec.write_text(
            "apiVersion: loadmaster.io/v1alpha1\nkind: Model\n"
            f"metadata: {{name: {name}}}\nspec:\n  storageUri: file://{model_dir.resolve()}\n"
            f"  requirements: [torch]\n  memory: {MODEL_MEMORY}\n  replicas: 1\n",
            encoding="utf-8",
        )
        started = time.monotonic()
        self.cli("model", "load", "-f", str(spec))
        self.cli(
            "model", "status", name, "--wait", "ModelAvailable", "--timeout", f"{timeout_s:g}",
            timeout_s=timeout_s + 30,
        )  # fmt: skip
        return time.monotonic() - started

    def cli(self, *args: str, timeout_s: float = 60.0) -> str:
        argv = [*launcher(), *args, "--scheduler", self.admin]
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, env=server_env()
        )
        if result.returncode != 0:
            raise BenchError(
                f"loadmaster {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout

    def wait_routed(self, url: str, body: bytes, timeout_s: float = 60.0) -> bytes:
        """POST `body` to `url` until it answers 200 (the gateway has the route); the body."""
        deadline, last = time.monotonic() + timeout_s, ""
        while time.monotonic() < deadline:
            self.check_alive("start-up")
            request = urllib.request.Request(
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer: bytes = response.read()
                    return answer
            except urllib.error.HTTPError as exc:
                last = f"{exc.code} {exc.read()[:300].decode('utf-8', 'replace')}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise BenchError(f"{url} did not answer 200 within {timeout_s:.0f}s; last: {last}")

    # ---- CPU -----------------------------------------------------------------------------

    def cpu(self) -> Snapshots:
        return {name: cpu_snapshot(part.pid) for name, part in self.parts.items()}

    def usage(self, before: Snapshots, after: Snapshots) -> PartUsage:
        def of(name: str) -> tuple[float, float, float]:
            pid = self.parts[name].pid
            used = cpu_usage(pid, before[name], after[name])
            return used.server_root, used.server_children, used.machine

        agent_front, agent_workers, machine = of("agent")
        gateway = sum(of("gateway")[:2])
        scheduler = sum(of("scheduler")[:2])
        return PartUsage(agent_front, agent_workers, gateway, scheduler, machine)

    # ---- CPU placement -------------------------------------------------------------------

    def pin(self, agent_cpus: set[int], other_cpus: set[int]) -> None:
        """Every thread of the agent and its workers on `agent_cpus`; the gateway's and the
        scheduler's on `other_cpus`. Threads started later inherit their creator's set."""
        for name, part in self.parts.items():
            pin_tree(part.pid, agent_cpus if name == "agent" else other_cpus)

    def unpin(self, cpus: set[int]) -> None:
        """Every part back on `cpus` (what the benchmark itself may use)."""
        for part in self.parts.values():
            pin_tree(part.pid, cpus)

    def describe(self) -> str:
        pids = ", ".join(f"{name} {part.pid}" for name, part in self.parts.items())
        return f"cluster up ({pids}); logs in {self.logs}"


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Set the CPU affinity of every thread of `pid` and of its descendants."""
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error as exc:
        raise BenchError(f"cannot pin process {pid}: {exc}") from exc
    for process in processes:
        try:
            threads = process.threads()
        except psutil.Error:
            continue  # it exited meanwhile
        for thread in threads:
            try:
                os.sched_setaffinity(thread.id, cpus)
            except (ProcessLookupError, PermissionError):
                continue
