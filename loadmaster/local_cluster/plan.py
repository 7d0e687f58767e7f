"""What `loadmaster up` will run: each part's command line and ports, and the endpoints to print.

A pure function of the options, so the exact commands (and the wiring between parts: the
scheduler's store is this etcd, the agents join this scheduler's agent stream, the gateway
follows this scheduler's admin API) are checked by unit tests without starting anything. Every
Python part is `python -m loadmaster.cli.main`, the same entry point users run by hand.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from loadmaster.local_cluster.layout import DataDir
from loadmaster.local_cluster.options import AGENT_CAPABILITIES, KafkaMode, UpOptions
from loadmaster.local_cluster.parts import PartKind, PartPlan, agent_names, pipeline_worker_names
from loadmaster.local_cluster.ports import LOOPBACK

BROKER_NAME = "kafka"


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    parts: tuple[PartPlan, ...]
    endpoints: dict[str, str]


def build_plan(
    options: UpOptions,
    agent_ports: list[int],
    etcd_bin: Path,
    broker_bin: Path | None,
    python: str = sys.executable,
) -> ClusterPlan:
    """`agent_ports` holds two free ports per agent (HTTP, gRPC), then one per pipeline worker
    (its health and metrics); `broker_bin` is needed only when the cluster runs its own broker."""
    names = agent_names(options.agents)
    workers = pipeline_worker_names(options.worker_count)
    wanted = 2 * len(names) + len(workers)
    if len(agent_ports) != wanted:
        raise ValueError(f"need {wanted} free ports, got {len(agent_ports)}")
    layout = DataDir(options.data_dir)
    ports = options.ports
    service: tuple[str, ...] = (python, "-m", "loadmaster.cli.main", "--log-format", "json")
    service += ("--log-level", options.log_level)
    parts = [_etcd(etcd_bin, layout, ports.etcd_client, ports.etcd_peer)]
    if options.kafka is KafkaMode.LOCAL:
        if broker_bin is None:
            raise ValueError("a local Kafka broker needs the broker binary")
        parts.append(_broker(broker_bin, ports.kafka))
    scheduler = _flags(
        {
            "--store": f"etcd://{LOOPBACK}:{ports.etcd_client}",
            "--host": LOOPBACK,
            "--admin-port": ports.admin,
            "--agent-port": ports.agent_stream,
            "--metrics-port": ports.metrics,
        }
    )
    parts.append(
        PartPlan(
            "scheduler",
            PartKind.SCHEDULER,
            (*service, "scheduler", *scheduler),
            {"admin": ports.admin, "agent": ports.agent_stream, "metrics": ports.metrics},
        )
    )
    for i, name in enumerate(names):
        http, grpc = agent_ports[2 * i], agent_ports[2 * i + 1]
        agent = _flags(
            {
                "--name": name,
                "--host": LOOPBACK,
                "--http-port": http,
                "--grpc-port": grpc,
                "--cache-dir": layout.agent_cache(name),
                "--memory": options.agent_memory_bytes,
                "--capabilities": ",".join(AGENT_CAPABILITIES),
                "--scheduler": f"{LOOPBACK}:{ports.agent_stream}",
                # The whole cluster stops together: there is nowhere to move replicas to, so
                # a drain would only wait; the models come back on the next `up`.
                "--drain-timeout": 0,
            }
        )
        parts.append(
            PartPlan(
                name, PartKind.AGENT, (*service, "agent", *agent), {"http": http, "grpc": grpc}
            )
        )
    kafka = {"--kafka-bootstrap": options.kafka_address} if options.kafka_address else {}
    gateway = _flags(
        {
            "--scheduler": f"{LOOPBACK}:{ports.admin}",
            "--host": LOOPBACK,
            "--http-port": ports.gateway_http,
            "--grpc-port": ports.gateway_grpc,
            **kafka,
        }
    )
    parts.append(
        PartPlan(
            "gateway",
            PartKind.GATEWAY,
            (*service, "gateway", *gateway),
            {"http": ports.gateway_http, "grpc": ports.gateway_grpc},
        )
    )
    for i, name in enumerate(workers):
        health = agent_ports[2 * len(names) + i]
        worker = _flags(
            {
                "--name": name,
                "--scheduler": f"{LOOPBACK}:{ports.admin}",
                "--gateway": f"http://{LOOPBACK}:{ports.gateway_http}",
                "--metrics-port": health,
                **kafka,
            }
        )
        parts.append(
            PartPlan(
                name,
                PartKind.PIPELINE_WORKER,
                (*service, "pipeline-worker", *worker),
                {"metrics": health},
            )
        )
    return ClusterPlan(tuple(parts), endpoints(options))


def endpoints(options: UpOptions) -> dict[str, str]:
    """What a user needs to reach the cluster, in the order `up` prints them; the keys are
    those of cluster.json and `status --json`."""
    ports = options.ports
    return {
        "gatewayRest": f"http://{LOOPBACK}:{ports.gateway_http}",
        "gatewayGrpc": f"{LOOPBACK}:{ports.gateway_grpc}",
        "admin": f"{LOOPBACK}:{ports.admin}",
        "kafka": options.kafka_address or "none",
        "etcd": f"http://{LOOPBACK}:{ports.etcd_client}",
        "metrics": f"http://{LOOPBACK}:{ports.metrics}/metrics" if ports.metrics else "off",
        "logs": str(DataDir(options.data_dir).logs),
    }


def _flags(values: dict[str, object]) -> tuple[str, ...]:
    """{"--port": 9000} -> ("--port", "9000"): command lines written as flag -> value."""
    return tuple(text for flag, value in values.items() for text in (flag, str(value)))


def _etcd(binary: Path, layout: DataDir, client: int, peer: int) -> PartPlan:
    client_url, peer_url = f"http://{LOOPBACK}:{client}", f"http://{LOOPBACK}:{peer}"
    argv = (
        str(binary), "--name=loadmaster", f"--data-dir={layout.etcd}",
        f"--listen-client-urls={client_url}", f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=loadmaster={peer_url}", "--initial-cluster-state=new",
        "--log-level=warn",
        # One member elects itself; short raft timers make that (re)start quick.
        "--heartbeat-interval=10", "--election-timeout=100",
    )  # fmt: skip
    return PartPlan("etcd", PartKind.ETCD, argv, {"client": client, "peer": peer})


def _broker(binary: Path, port: int) -> PartPlan:
    url = f"tcp://{LOOPBACK}:{port}"
    argv = (
        str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    )  # fmt: skip
    return PartPlan(BROKER_NAME, PartKind.BROKER, argv, {"kafka": port})
