"""`loadmaster gateway`: run the gateway, the front door that routes inference to replicas.

The gateway package is imported only when this command runs, so the other commands start
without it.
"""

from __future__ import annotations

import argparse
import os

from loadmaster.cli.arguments import memory, seconds
from loadmaster.cli.kafka_options import add_kafka_arguments, kafka_config_from
from loadmaster.cli.output import EXIT_USAGE, error
from loadmaster.client import DEFAULT_SCHEDULER, ENV_SCHEDULER
from loadmaster.units import parse_memory


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def add_gateway(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("gateway", help="run the gateway (OIP REST and gRPC front door)")
    p.add_argument("--name", default="gateway", help="this gateway's name, in the scheduler's logs")
    p.add_argument(
        "--scheduler",
        metavar="HOST:PORT",
        default=os.environ.get(ENV_SCHEDULER) or DEFAULT_SCHEDULER,
        help=f"the scheduler's admin address (default: ${ENV_SCHEDULER} or {DEFAULT_SCHEDULER})",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument(
        "--http-port", type=_port, default=9000, metavar="PORT", help="OIP REST and /metrics"
    )
    p.add_argument("--grpc-port", type=_port, default=9500, metavar="PORT", help="OIP gRPC")
    p.add_argument(
        "--max-body", type=memory, default=parse_memory("64Mi"), help="largest request body"
    )
    p.add_argument(
        "--traffic-report-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between reports of experiment traffic to the scheduler (default 1)",
    )
    p.add_argument(
        "--pipeline-timeout",
        type=seconds,
        default=30.0,
        metavar="S",
        help="seconds a pipeline request waits for its answer when it sets no shorter "
        "deadline (default 30)",
    )
    add_kafka_arguments(p)
    p.set_defaults(run=run_gateway)


def run_gateway(args: argparse.Namespace) -> int:
    from gateway.config import GatewayConfig
    from gateway.main import run

    try:
        config = GatewayConfig(
            name=args.name,
            scheduler=args.scheduler,
            host=args.host,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            max_body_bytes=args.max_body,
            traffic_report_interval_s=args.traffic_report_interval,
            kafka=kafka_config_from(args),
            pipeline_timeout_s=args.pipeline_timeout,
        )
    except ValueError as exc:
        error(str(exc))
        return EXIT_USAGE
    return run(config)
