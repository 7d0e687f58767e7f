"""`status` per part (alive? healthy?) and the probes that say "healthy", with fakes."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, TypeVar, cast

import psutil

from loadmaster.client import AdminClient, Unreachable
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.probes import AdminAccess, Probe, agent_ready, tcp_accepts
from loadmaster.local_cluster.record import ClusterRecord, PartRecord
from loadmaster.local_cluster.status import PartState, check_cluster

T = TypeVar("T")


class FakeAdmin:
    """Answers like a scheduler holding `models` and `servers`; `down` makes it unreachable."""

    def __init__(self) -> None:
        self.models: list[admin_pb2.ModelStatusResponse] = []
        self.servers: list[admin_pb2.ServerStatusResponse] = []
        self.down = False

    def call(self, fn: Callable[[AdminClient], T]) -> T:
        if self.down:
            raise Unreachable("UNAVAILABLE", "cannot reach the scheduler at 127.0.0.1:9004")
        return fn(cast(AdminClient, self))

    def list_models(self) -> list[admin_pb2.ModelStatusResponse]:
        return self.models

    def list_servers(self) -> list[admin_pb2.ServerStatusResponse]:
        return self.servers


def _server(name: str, state: str) -> admin_pb2.ServerStatusResponse:
    return admin_pb2.ServerStatusResponse(name=name, state=state)


def test_agent_ready_needs_registration_and_the_ready_state() -> None:
    admin = FakeAdmin()
    assert agent_ready(admin, "agent-1") == "not registered with the scheduler yet"
    admin.servers = [_server("agent-1", "Lost")]
    assert agent_ready(admin, "agent-1") == "the scheduler sees it Lost"
    admin.servers = [_server("agent-1", "Ready")]
    assert agent_ready(admin, "agent-1") is None
    admin.down = True
    assert agent_ready(admin, "agent-1") == "cannot reach the scheduler at 127.0.0.1:9004"


def test_tcp_accepts() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert tcp_accepts(port) == "connection refused"
        sock.listen()
        assert tcp_accepts(port) is None


RECORD = ClusterRecord(
    "/d",
    "/w",
    "2024-06-01T00:00:00+00:00",
    True,
    (
        PartRecord("etcd", PartKind.ETCD, {"client": 1}, 101, 1.0),
        PartRecord("scheduler", PartKind.SCHEDULER, {"admin": 2}, 102, 1.0),
        PartRecord("agent-1", PartKind.AGENT, {"http": 3, "grpc": 4}, 103, 1.0),
        PartRecord("gateway", PartKind.GATEWAY, {"http": 5, "grpc": 6}, None, None),
    ),
)


def _alive(*pids: int) -> Callable[[int | None, float | None], psutil.Process | None]:
    def find(pid: int | None, started: float | None) -> psutil.Process | None:
        return cast(psutil.Process, object()) if pid in pids else None

    return find


def _probes(reasons: dict[str, str]) -> Callable[..., Probe]:
    def probe(kind: PartKind, name: str, ports: dict[str, int], admin: AdminAccess) -> Probe:
        return lambda: reasons.get(name)

    return probe


def test_each_part_is_healthy_unhealthy_or_down() -> None:
    admin = FakeAdmin()
    admin.models = [
        admin_pb2.ModelStatusResponse(name="iris", state="ModelAvailable"),
        admin_pb2.ModelStatusResponse(name="mlp", state="ScheduleFailed"),
    ]
    admin.servers = [_server("agent-1", "Ready"), _server("agent-2", "Lost")]
    health = check_cluster(
        RECORD,
        admin,
        _alive(101, 102, 103),
        _probes({"agent-1": "the scheduler sees it Lost"}),
    )
    states = {p.name: (p.state, p.detail) for p in health.parts}
    assert states == {
        "etcd": (PartState.HEALTHY, ""),
        "scheduler": (PartState.HEALTHY, ""),
        "agent-1": (PartState.UNHEALTHY, "the scheduler sees it Lost"),
        "gateway": (PartState.DOWN, "not running"),
    }
    counts = health.counts
    assert (counts.models, counts.models_available, counts.servers, counts.servers_ready) == (
        2,
        1,
        2,
        1,
    )
    assert not health.healthy


def test_a_recorded_pid_that_is_gone_is_down_and_healthy_means_every_part() -> None:
    all_up = _alive(101, 102, 103, 104)
    record = RECORD.with_part(PartRecord("gateway", PartKind.GATEWAY, {}, 104, 1.0))
    assert check_cluster(record, FakeAdmin(), all_up, _probes({})).healthy
    gone = check_cluster(record, FakeAdmin(), _alive(101, 102, 103), _probes({}))
    assert gone.parts[-1].detail == "pid 104 is gone"


def test_a_scheduler_that_cannot_be_asked_makes_the_cluster_unhealthy() -> None:
    admin: Any = FakeAdmin()
    admin.down = True
    health = check_cluster(RECORD, admin, _alive(101, 102, 103, 104), _probes({}))
    assert health.counts.error.startswith("cannot reach the scheduler")
    assert not health.healthy
