"""Health probes: how `up` and `status` tell that a part does its job, not merely runs.

A running process is not a healthy part: etcd must answer `/health`, the broker must accept
connections, the scheduler must answer its admin API, each agent must be registered and Ready
in the scheduler's eyes (so the scheduler can place on it), and the gateway must be ready
(it has the scheduler's route table) with its gRPC port accepting connections, and a pipeline
worker must be following the route table.

A probe returns None when the part is healthy, else a short reason for people ("connection
refused", "not registered yet"). Probes never raise and are bounded by short timeouts, so a
wedged part cannot hang `up` or `status`.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Protocol, TypeVar

from loadmaster.client import AdminClient, AdminError, Unreachable
from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.ports import LOOPBACK
from loadmaster.model_state import ServerState

Probe = Callable[[], str | None]
TIMEOUT_S = 2.0
T = TypeVar("T")


class AdminAccess(Protocol):
    """Runs one admin call; raises AdminError when the scheduler cannot answer."""

    def call(self, fn: Callable[[AdminClient], T]) -> T: ...


class FreshAdmin:
    """An admin client rebuilt after every failure to connect.

    A gRPC channel that found nobody listening backs off before trying again (a second, then
    longer); probing a scheduler that is just starting through one channel would notice it
    seconds late. A new channel per failed attempt connects as soon as the port is open."""

    def __init__(self, address: str, timeout_s: float = TIMEOUT_S) -> None:
        self.address = address
        self._timeout_s = timeout_s
        self._client: AdminClient | None = None

    def call(self, fn: Callable[[AdminClient], T]) -> T:
        if self._client is None:
            self._client = AdminClient(self.address, self._timeout_s)
        try:
            return fn(self._client)
        except Unreachable:
            self.close()
            raise

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def probe_for(kind: PartKind, name: str, ports: dict[str, int], admin: AdminAccess) -> Probe:
    """The probe for one part, from what its record says (kind, name, ports)."""
    if kind is PartKind.ETCD:
        return lambda: etcd_health(ports["client"])
    if kind is PartKind.BROKER:
        return lambda: tcp_accepts(ports["kafka"])
    if kind is PartKind.SCHEDULER:
        return lambda: scheduler_answers(admin)
    if kind is PartKind.AGENT:
        return lambda: agent_ready(admin, name)
    if kind is PartKind.PIPELINE_WORKER:
        return lambda: worker_following(ports["metrics"])
    return lambda: gateway_ready(ports["http"], ports["grpc"])


def etcd_health(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/health", timeout=TIMEOUT_S) as r:
            health = json.loads(r.read()).get("health")
    except (OSError, ValueError, AttributeError) as exc:
        return _why(exc)
    return None if health == "true" else f"/health says {health!r}"


def tcp_accepts(port: int, host: str = LOOPBACK) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S):
            return None
    except OSError as exc:
        return _why(exc)


def scheduler_answers(admin: AdminAccess) -> str | None:
    try:
        admin.call(lambda client: client.scheduler_status())
    except AdminError as exc:
        return exc.message
    return None


def agent_ready(admin: AdminAccess, name: str) -> str | None:
    try:
        servers = {s.name: s.state for s in admin.call(lambda client: client.list_servers())}
    except AdminError as exc:
        return exc.message
    state = servers.get(name)
    if state is None:
        return "not registered with the scheduler yet"
    return None if state == ServerState.READY else f"the scheduler sees it {state}"


def gateway_ready(http_port: int, grpc_port: int) -> str | None:
    url = f"http://{LOOPBACK}:{http_port}/v2/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S):
            pass
    except urllib.error.HTTPError as exc:
        return f"/v2/health/ready answers {exc.code} (no route table from the scheduler yet?)"
    except OSError as exc:
        return f"REST: {_why(exc)}"
    grpc = tcp_accepts(grpc_port)
    return None if grpc is None else f"gRPC port {grpc_port}: {grpc}"


def worker_following(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/health", timeout=TIMEOUT_S) as r:
            following = json.loads(r.read()).get("following")
    except (OSError, ValueError, AttributeError) as exc:
        return _why(exc)
    return None if following is True else "not following the scheduler's route table yet"


def _why(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, str):
        exc = exc.reason
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
