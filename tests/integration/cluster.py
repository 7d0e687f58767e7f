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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.etcd_server import EtcdServer
from tests.integration.harness import (
    ROOT,
    AgentProcess,
    free_port,
    http_json,
    start_agent,
    stop_process,
)

T = TypeVar("T")
CAPS = "torch,python,huggingface"


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


class Cluster:
    """etcd (unless `etcd=False`: then the scheduler keeps its state in memory), a scheduler
    with a short heartbeat timeout, and agents added by name."""

    def __init__(self, work: Path, models_dir: Path, etcd: bool = True) -> None:
        self.work = work
        self.iris = models_dir / "iris"
        self.etcd: EtcdServer | None = None
        store = "memory://"
        if etcd:
            (work / "etcd").mkdir(exist_ok=True)
            self.etcd = EtcdServer(work / "etcd").start()
            store = self.etcd.url
        self.scheduler = new_scheduler(
            work, store, "--heartbeat-interval", "0.3", "--heartbeat-timeout", "2"
        ).start()
        self.agents: dict[str, AgentProcess] = {}

    def add_agent(self, name: str, memory: str, caps: str = CAPS) -> AgentProcess:
        agent = start_agent(
            self.work, None, "--scheduler", self.scheduler.agents, "--memory", memory,
            capabilities=caps, name=name,
        )  # fmt: skip
        self.agents[name] = agent
        wait_until(lambda: self.server(name).get("state") == "Ready", 30, f"{name} to register")
        return agent

    def load(self, name: str, memory: str, replicas: int, *extra: str) -> None:
        spec = self.work / f"{name}.yaml"
        lines = [
            "apiVersion: loadmaster.io/v1alpha1",
            "kind: Model",
            f"metadata: {{name: {name}}}",
            "spec:",
            f"  storageUri: {self.iris}",
            f"  memory: {memory}",
            f"  replicas: {replicas}",
            *(f"  {line}" for line in extra),
        ]
        spec.write_text("\n".join(lines) + "\n")
        cli("model", "load", "-f", str(spec), scheduler=self.scheduler.admin)

    def status(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = cli_json("model", "status", name, scheduler=self.scheduler.admin)
        return result

    def servers(self) -> dict[str, dict[str, Any]]:
        listing = cli_json("server", "list", scheduler=self.scheduler.admin)
        return {s["name"]: s for s in listing}

    def server(self, name: str) -> dict[str, Any]:
        return self.servers().get(name, {})

    def settled(self, name: str, available: int, scheduling: str) -> dict[str, Any]:
        """Wait until `name` has `available` Available replicas and the given scheduling."""

        def probe() -> dict[str, Any] | None:
            status = self.status(name)
            done = status["availableReplicas"] == available and status["scheduling"] == scheduling
            in_flight = any(r["state"] in ("LoadRequested", "Loading") for r in status["replicas"])
            return status if done and not in_flight else None

        return wait_until(probe, 60, f"{name}: {available} available, {scheduling}", self.logs)

    def logs(self) -> str:
        tail = "\n".join(self.scheduler.log().splitlines()[-30:])
        return f"scheduler log tail:\n{tail}"

    def close(self) -> None:
        for agent in self.agents.values():
            agent.stop()
        self.scheduler.stop()
        if self.etcd is not None:
            self.etcd.stop()


def servers_of(status: dict[str, Any]) -> list[str]:
    return sorted(r["server"] for r in status["replicas"] if r["state"] == "Available")


IRIS_REQUEST = json.dumps(
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
).encode()


class Traffic:
    """Sends `body` round-robin to `urls` from a thread until stopped; counts the failures.

    "Keeps serving" is then a count a test asserts (zero failed requests), not an assumption.
    """

    def __init__(self, urls: list[str], body: bytes = IRIS_REQUEST) -> None:
        self.urls = urls
        self.body = body
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            url = self.urls[i % len(self.urls)]
            i += 1
            try:
                status, body = http_json("POST", url, self.body)
            except OSError as exc:  # refused or reset: a failure the client saw
                status, body = 0, str(exc)
            if status == 200:
                self.ok += 1
            else:
                self.failures.append(f"{url}: {status} {body}")


class TritonGrpcTraffic:
    """tritonclient gRPC inferences in a loop, in their own process (brief §7), until stopped;
    the failures its client saw are then a count a test asserts, as with `Traffic`."""

    def __init__(self, address: str, work: Path, model: str = "iris") -> None:
        self.stop_file = work / f"stop-grpc-traffic-{free_port()}"
        command = [
            sys.executable, "-m", "tests.integration.clients.triton_grpc_load",
            "--grpc", address, "--model", model, "--stop-file", str(self.stop_file),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.ok = 0
        self.failures: list[str] = []

    def __enter__(self) -> TritonGrpcTraffic:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_file.touch()
        out = self._process.communicate(timeout=60)[0]
        report = json.loads(out.strip().splitlines()[-1])
        self.ok, self.failures = report["ok"], report["failures"]


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    http_port: int
    log_path: Path
    grpc_port: int = 0

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def start_gateway(work: Path, scheduler_admin: str, *extra: str) -> GatewayProcess:
    """`loadmaster gateway` following the scheduler's routes; returns once it has a table."""
    http_port, grpc_port = free_port(), free_port()
    log_path = work / f"gateway-{http_port}.log"
    command = [
        sys.executable, "-m", "loadmaster.cli.main", "--log-format", "json", "gateway",
        "--scheduler", scheduler_admin, "--http-port", str(http_port),
        "--grpc-port", str(grpc_port), *extra,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    gateway = GatewayProcess(process, http_port, log_path, grpc_port)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{gateway.log()}")
        try:
            return http_json("GET", gateway.url("/v2/health/ready"))[0] == 200
        except OSError:
            return False

    try:
        wait_until(ready, 30, "the gateway to have a route table", gateway.log)
    except BaseException:
        gateway.stop()
        raise
    return gateway
