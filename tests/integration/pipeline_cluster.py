"""A real cluster for pipeline tests: broker, scheduler, one agent, a gateway with Kafka, and
pipeline workers, each its own process on loopback, driven through the CLI and REST.

Every cluster uses its own Kafka namespace (topics `loadmaster.<ns>....`), so tests never
see each other's records, even against a shared Apache Kafka ($LOADMASTER_KAFKA_BOOTSTRAP).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.cluster import (
    GatewayProcess,
    SchedulerProcess,
    cli,
    new_scheduler,
    start_gateway,
    wait_until,
)
from tests.integration.harness import ROOT, AgentProcess, free_port, start_agent, stop_process


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def following(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
        try:
            url = f"http://127.0.0.1:{self.port}/health"
            with urllib.request.urlopen(url, timeout=5) as response:
                return bool(json.loads(response.read()).get("following"))
        except OSError:
            return False

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def kill(self) -> None:
        """SIGKILL: no goodbye to the consumer group, as when a machine dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        stop_process(self.process)


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    def output(self, name: str) -> list[float]:
        for tensor in self.body.get("outputs", []):
            if tensor["name"] == name:
                return [float(v) for v in tensor["data"]]
        raise AssertionError(f"no output {name!r} in {self.body}")


class PipelineCluster:
    def __init__(self, work: Path, models_root: Path, bootstrap: str, workers: int = 1) -> None:
        self.work = work
        self.models_root = models_root
        self.bootstrap = bootstrap
        self.namespace = f"t{uuid.uuid4().hex[:10]}"
        self.kafka = ["--kafka-bootstrap", bootstrap, "--kafka-namespace", self.namespace]
        self.scheduler: SchedulerProcess = new_scheduler(
            work, "memory://", "--heartbeat-interval", "0.3", "--heartbeat-timeout", "2"
        ).start()
        self.agent: AgentProcess | None = None
        self.gateway: GatewayProcess | None = None
        self.workers: list[WorkerProcess] = []
        try:
            self.agent = start_agent(
                work, None, "--scheduler", self.scheduler.agents, "--memory", "4Gi",
                name="pipes", workers=2,
            )  # fmt: skip
            self.gateway = start_gateway(
                work, self.scheduler.admin, *self.kafka, "--pipeline-timeout", "20"
            )
            for i in range(workers):
                self.add_worker(f"worker-{i + 1}")
        except BaseException:
            self.close()
            raise

    @property
    def admin(self) -> str:
        return self.scheduler.admin

    @property
    def gateway_url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url("")

    def add_worker(self, name: str) -> WorkerProcess:
        port = free_port()
        log_path = self.work / f"{name}-{port}.log"
        command = [
            sys.executable, "-m", "loadmaster.cli.main", "--log-format", "json",
            "pipeline-worker", "--name", name, "--scheduler", self.admin,
            "--gateway", self.gateway_url, "--metrics-port", str(port), *self.kafka,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env
            )
        worker = WorkerProcess(name, process, port, log_path)
        self.workers.append(worker)
        wait_until(worker.following, 30, f"{name} to follow the route table", worker.log)
        return worker

    def load_model(self, name: str, replicas: int = 1) -> None:
        spec = self.work / f"model-{name}.yaml"
        spec.write_text(
            "apiVersion: loadmaster.io/v1alpha1\nkind: Model\n"
            f"metadata: {{name: {name}}}\n"
            f"spec:\n  storageUri: {self.models_root / name}\n  requirements: [python]\n"
            f"  memory: 32Mi\n  replicas: {replicas}\n"
        )
        cli("model", "load", "-f", str(spec), scheduler=self.admin)

    def wait_model(self, name: str) -> None:
        def available() -> bool:
            result = cli("model", "status", name, "--json", scheduler=self.admin, check=False)
            return result.returncode == 0 and json.loads(result.stdout)["state"] == (
                "ModelAvailable"
            )

        wait_until(available, 60, f"model {name} to be available", self.logs)

    def load_pipeline(self, name: str, document: str) -> None:
        path = self.work / f"pipeline-{name}.yaml"
        path.write_text(document)
        cli("pipeline", "load", "-f", str(path), scheduler=self.admin)

    def pipeline_status(self, name: str) -> dict[str, Any]:
        result = cli("pipeline", "status", name, "-o", "json", scheduler=self.admin)
        status: dict[str, Any] = json.loads(result.stdout)
        return status

    def wait_pipeline(self, name: str) -> dict[str, Any]:
        """Until the pipeline is Ready and the gateway answers for it (not 503 starting)."""

        def ready() -> dict[str, Any] | None:
            status = self.pipeline_status(name)
            if status["state"] != "PipelineReady":
                return None
            code, _ = self.get(f"/v2/pipelines/{name}/ready")
            return status if code == 200 else None

        return wait_until(ready, 60, f"pipeline {name} to be ready", self.logs)

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.gateway_url + path, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def infer(
        self,
        pipeline: str,
        inputs: dict[str, list[float]],
        timeout_ms: int | None = None,
        request_id: str | None = None,
    ) -> Reply:
        body = json.dumps(
            {
                "inputs": [
                    {"name": k, "datatype": "FP32", "shape": [len(v)], "data": v}
                    for k, v in inputs.items()
                ]
            }
        ).encode()
        headers = {"content-type": "application/json"}
        if timeout_ms is not None:
            headers["x-request-timeout-ms"] = str(timeout_ms)
        if request_id is not None:
            headers["x-request-id"] = request_id
        request = urllib.request.Request(
            f"{self.gateway_url}/v2/pipelines/{pipeline}/infer",
            data=body,
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Reply(response.status, json.loads(response.read()), dict(response.headers))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers))

    def logs(self) -> str:
        parts = [("scheduler", self.scheduler.log())]
        if self.gateway is not None:
            parts.append(("gateway", self.gateway.log()))
        parts += [(w.name, w.log()) for w in self.workers]
        return "\n".join(
            f"--- {name} (tail)\n" + "\n".join(text.splitlines()[-25:]) for name, text in parts
        )

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.gateway is not None:
            self.gateway.stop()
        if self.agent is not None:
            self.agent.stop()
        self.scheduler.stop()
