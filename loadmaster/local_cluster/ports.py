"""The ports a local cluster listens on, and the check that they are free before anything starts.

Fixed ports are a promise: the CLI, the SDK and a user's scripts find the scheduler at 9004 and
the gateway at 9000 without being told. So a busy fixed port is an error naming the flag that
moves it, never a silent switch to another port that nobody would look for. Agents are the
exception: nothing addresses them directly (the scheduler tells the gateway where they are), so
each gets free ports chosen at start.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, fields

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class ClusterPorts:
    """The fixed ports; `metrics` 0 turns the scheduler's metrics endpoint off. `kafka` is
    unused when the cluster runs no broker of its own."""

    admin: int = 9004
    agent_stream: int = 9005
    metrics: int = 9006
    gateway_http: int = 9000
    gateway_grpc: int = 9500
    etcd_client: int = 2379
    etcd_peer: int = 2380
    kafka: int = 9092


# What each port is, for people, and the `loadmaster up` flag that moves it.
PORT_ROLES: dict[str, tuple[str, str]] = {
    "admin": ("the scheduler's admin API", "--admin-port"),
    "agent_stream": ("the scheduler's agent stream", "--agent-port"),
    "metrics": ("the scheduler's metrics", "--metrics-port"),
    "gateway_http": ("the gateway's REST port", "--gateway-http-port"),
    "gateway_grpc": ("the gateway's gRPC port", "--gateway-grpc-port"),
    "etcd_client": ("etcd's client port", "--etcd-port"),
    "etcd_peer": ("etcd's peer port", "--etcd-peer-port"),
    "kafka": ("the Kafka broker", "--kafka-port"),
}


def ports_in_use(ports: ClusterPorts, with_kafka: bool) -> dict[str, int]:
    """The ports this cluster will bind, by field name (metrics 0 and an unused broker left out)."""
    used = {f.name: int(getattr(ports, f.name)) for f in fields(ports)}
    if not with_kafka:
        del used["kafka"]
    if used["metrics"] == 0:
        del used["metrics"]
    return used


def port_problems(
    ports: ClusterPorts, with_kafka: bool, is_free: Callable[[int], bool]
) -> list[str]:
    """One message per port given twice or already taken, each naming the flag to change."""
    used = ports_in_use(ports, with_kafka)
    problems: list[str] = []
    owners: dict[int, str] = {}
    for name, port in used.items():
        role, flag = PORT_ROLES[name]
        if port in owners:
            other_role, other_flag = PORT_ROLES[owners[port]]
            problems.append(
                f"port {port} is given for both {other_role} ({other_flag}) and {role} ({flag});"
                f" give them different ports"
            )
            continue
        owners[port] = name
        if not is_free(port):
            problems.append(
                f"port {port} ({role}) is already in use; is another cluster running? "
                f"stop it, or choose another port with {flag} PORT"
            )
    return problems


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when a listener could bind `host:port` now.

    SO_REUSEADDR as the services themselves use it: a port whose last connections linger in
    TIME_WAIT is free to them, so it must not be reported as taken here."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    """A port the kernel considers free right now (for the agents' own ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int, taken: set[int], pick: Callable[[], int] = free_port) -> list[int]:
    """`count` distinct free ports, none of them in `taken` (the cluster's fixed ports)."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = pick()
        if port not in taken and port not in chosen:
            chosen.append(port)
    return chosen
