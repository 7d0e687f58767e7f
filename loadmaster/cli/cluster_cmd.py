"""`loadmaster up`, `down`, `status`: a whole cluster on this machine, one command each.

The flags and the printing live here; what runs, in which order, and how it is checked live in
`loadmaster.local_cluster`. Exit statuses follow the other commands: 0 done, 1 a part failed
(or, for `status`, is down or unhealthy), 2 the request was refused before anything started
(a busy port, a cluster already running from the data dir, bad flags).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loadmaster.cli.arguments import memory, positive, seconds
from loadmaster.cli.output import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    error,
    note,
    print_fields,
    print_json,
    print_table,
)
from loadmaster.local_cluster.current import cluster_dir, current_path
from loadmaster.local_cluster.layout import ENV_DATA_DIR, default_data_dir
from loadmaster.local_cluster.options import KafkaMode, UpOptions
from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.ports import PORT_ROLES, ClusterPorts
from loadmaster.local_cluster.record import BadRecord, ClusterRecord
from loadmaster.local_cluster.status import ClusterHealth
from loadmaster.units import parse_memory

EXIT_INTERRUPTED = 130
DEFAULTS = ClusterPorts()
ENDPOINT_LABELS = {"gatewayRest": "gateway REST", "gatewayGrpc": "gateway gRPC"}  # else the key


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {value}")
    return value


def _metrics_port(text: str) -> int:
    return 0 if text.strip() == "0" else _port(text)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _host_port(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:9092, got {text!r}")
    return text


def _common_options(p: argparse.ArgumentParser, data_dir_help: str, stop_grace: bool) -> None:
    p.add_argument("--data-dir", type=Path, metavar="DIR", help=data_dir_help)
    if stop_grace:
        p.add_argument(
            "--stop-grace",
            type=seconds,
            default=15.0,
            metavar="S",
            help="seconds a part has to stop after SIGTERM before SIGKILL (default 15)",
        )


def add_cluster_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _add_up(sub)
    _add_down(sub)
    _add_status(sub)


def _add_up(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "up",
        help="start a local cluster: etcd, Kafka, the scheduler, agents and the gateway",
        description="Start a whole cluster on this machine, each part its own process, and "
        "print its endpoints once every part is healthy. In the foreground (the default), "
        "Ctrl-C or SIGTERM stops it; with --detach it keeps running until `loadmaster down`.",
    )
    p.add_argument("--agents", type=positive, default=1, metavar="N", help="agents (default 1)")
    p.add_argument(
        "--pipeline-workers",
        type=_count,
        default=1,
        metavar="N",
        help="pipeline workers to run when there is Kafka (default 1; they share the work)",
    )
    p.add_argument(
        "--agent-memory",
        type=memory,
        default=parse_memory("2Gi"),
        metavar="QUANTITY",
        help="memory each agent offers to models (default 2Gi)",
    )
    _common_options(
        p, f"where state and logs live (default ${ENV_DATA_DIR} or ./.loadmaster)", stop_grace=True
    )
    kafka = p.add_mutually_exclusive_group()
    kafka.add_argument("--no-kafka", action="store_true", help="run no Kafka broker")
    kafka.add_argument(
        "--kafka-bootstrap",
        type=_host_port,
        metavar="HOST:PORT",
        help="use this Kafka instead of starting the bundled in-memory broker",
    )
    p.add_argument(
        "-d", "--detach", action="store_true", help="return once healthy; stop with `down`"
    )
    ports = p.add_argument_group("ports (a busy one is an error naming its flag)")
    for flag, field, default, kind in (
        ("--gateway-http-port", "gateway_http", DEFAULTS.gateway_http, _port),
        ("--gateway-grpc-port", "gateway_grpc", DEFAULTS.gateway_grpc, _port),
        ("--admin-port", "admin", DEFAULTS.admin, _port),
        ("--agent-port", "agent_stream", DEFAULTS.agent_stream, _port),
        ("--metrics-port", "metrics", DEFAULTS.metrics, _metrics_port),
        ("--etcd-port", "etcd_client", DEFAULTS.etcd_client, _port),
        ("--etcd-peer-port", "etcd_peer", DEFAULTS.etcd_peer, _port),
        ("--kafka-port", "kafka", DEFAULTS.kafka, _port),
    ):
        extra = ", 0 for none" if field == "metrics" else ""
        ports.add_argument(
            flag, dest=f"port_{field}", type=kind, default=default, metavar="PORT",
            help=f"{PORT_ROLES[field][0]} (default {default}{extra})",
        )  # fmt: skip
    p.add_argument(
        "--start-timeout",
        type=seconds,
        default=60.0,
        metavar="S",
        help="seconds each start step may take before the start fails (default 60)",
    )
    p.set_defaults(run=run_up)


def _add_down(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("down", help="stop a local cluster started by `up` (its data stays)")
    _common_options(p, _FOUND_DIR_HELP, stop_grace=True)
    p.set_defaults(run=run_down)


def _add_status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="is each part of a local cluster running and healthy?")
    _common_options(p, _FOUND_DIR_HELP, stop_grace=False)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run_status)


_FOUND_DIR_HELP = (
    f"the cluster's data dir (default: ${ENV_DATA_DIR}, else ./.loadmaster if a cluster "
    "ran there, else the cluster the last `loadmaster up` started)"
)


def run_up(args: argparse.Namespace) -> int:
    from loadmaster.local_cluster.supervisor import StopSignals
    from loadmaster.local_cluster.up import Failed, Refused, StartInterrupted, log_tail, up

    cwd = Path.cwd()
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir(os.environ, cwd)
    kafka = KafkaMode.LOCAL
    if args.no_kafka:
        kafka = KafkaMode.NONE
    elif args.kafka_bootstrap:
        kafka = KafkaMode.EXTERNAL
    options = UpOptions(
        data_dir=(cwd / data_dir).resolve(),
        cwd=cwd,
        agents=args.agents,
        pipeline_workers=args.pipeline_workers,
        agent_memory_bytes=args.agent_memory,
        kafka=kafka,
        kafka_bootstrap=args.kafka_bootstrap or "",
        ports=ClusterPorts(**{k[5:]: v for k, v in vars(args).items() if k.startswith("port_")}),
        detach=args.detach,
        start_timeout_s=args.start_timeout,
        stop_grace_s=args.stop_grace,
        log_level=args.log_level,
    )
    signals = StopSignals()
    signals.install()
    try:
        up(options, current_path(), note, _print_ready, signals)
    except Refused as exc:
        error(str(exc))
        return EXIT_USAGE
    except Failed as exc:
        error(str(exc))
        tail = log_tail(exc.log) if exc.log is not None else ""
        if tail:
            note(f"last lines of {exc.log}:\n{tail}")
        return EXIT_FAILURE
    except StartInterrupted:
        note("interrupted; the parts started so far were stopped")
        return EXIT_INTERRUPTED
    finally:
        signals.uninstall()
    return EXIT_OK


def _print_ready(record: ClusterRecord) -> None:
    agents = record.of_kind(PartKind.AGENT)
    print(f"cluster up: {len(agents)} agent(s), data in {record.data_dir}")
    print_fields([(ENDPOINT_LABELS.get(k, k), v) for k, v in record.endpoints.items()])
    if record.detached:
        print(f"stop it with: loadmaster down --data-dir {record.data_dir}")
    else:
        print("Ctrl-C stops it")
    sys.stdout.flush()


def run_down(args: argparse.Namespace) -> int:
    from loadmaster.local_cluster.down import NoCluster, down

    current = current_path()
    data_dir = cluster_dir(args.data_dir, os.environ, Path.cwd(), current)
    try:
        outcome = down(data_dir, current, args.stop_grace, note)
    except (NoCluster, BadRecord) as exc:
        error(str(exc))
        return EXIT_FAILURE
    if not outcome.running:
        note(f"nothing was running from {data_dir}")
    else:
        print(f"cluster down ({data_dir}); its data stays for the next `loadmaster up`")
    return EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    from loadmaster.local_cluster.layout import DataDir
    from loadmaster.local_cluster.probes import FreshAdmin
    from loadmaster.local_cluster.record import read_record
    from loadmaster.local_cluster.status import check_cluster, health_json

    data_dir = cluster_dir(args.data_dir, os.environ, Path.cwd(), current_path())
    try:
        record = read_record(DataDir(data_dir).record)
    except BadRecord as exc:
        error(str(exc))
        return EXIT_FAILURE
    if record is None:
        error(f"no cluster in {data_dir}: start one with `loadmaster up`")
        return EXIT_FAILURE
    admin = FreshAdmin(record.admin or "127.0.0.1:9004")
    try:
        health = check_cluster(record, admin)
    finally:
        admin.close()
    if args.json:
        print_json(health_json(health))
    else:
        _print_status(health)
    return EXIT_OK if health.healthy else EXIT_FAILURE


def _print_status(health: ClusterHealth) -> None:
    record, counts = health.record, health.counts
    mode = "detached" if record.detached else "foreground"
    print(f"cluster in {record.data_dir} ({mode}, started {record.started_at})\n")
    print_table(
        ("PART", "PID", "STATE", "DETAIL"),
        ((p.name, p.pid or "", p.state.value, p.detail) for p in health.parts),
    )
    print()
    models = f"{counts.models} ({counts.models_available} available)"
    servers = f"{counts.servers} ({counts.servers_ready} ready)"
    print_fields(
        [
            ("models", "unknown" if counts.error else models),
            ("servers", "unknown" if counts.error else servers),
            *((ENDPOINT_LABELS.get(k, k), v) for k, v in record.endpoints.items()),
        ]
    )
    if counts.error:
        error(f"cannot ask the scheduler: {counts.error}")
