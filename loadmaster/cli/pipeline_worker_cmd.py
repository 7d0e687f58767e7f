"""`loadmaster pipeline-worker`: run the model and/or dataflow workers of Kafka pipelines.

A worker is useless without a broker, so the Kafka flags are required here (the gateway makes
them optional). The gateway package is imported only when this command runs, so the other
commands start without it.
"""

from __future__ import annotations

import argparse
import os

from loadmaster.cli.arguments import positive
from loadmaster.cli.kafka_options import ENV_BOOTSTRAP, add_kafka_arguments, kafka_config_from
from loadmaster.cli.output import EXIT_USAGE, error
from loadmaster.client import DEFAULT_SCHEDULER, ENV_SCHEDULER

ENV_GATEWAY = "LOADMASTER_GATEWAY"
DEFAULT_GATEWAY = "http://127.0.0.1:9000"
ROLES = ("all", "model", "dataflow")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def add_pipeline_worker(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "pipeline-worker",
        help="run pipeline workers: model calls and/or dataflow over Kafka",
        description="Follow the scheduler's pipelines and run their steps over Kafka: the "
        "model worker calls each step's model through the gateway, the dataflow worker joins "
        "step outputs into the next steps' inputs and the pipeline's answer.",
    )
    p.add_argument("--name", default="pipeline-worker", help="this worker's name, in logs")
    p.add_argument(
        "--scheduler",
        metavar="HOST:PORT",
        default=os.environ.get(ENV_SCHEDULER) or DEFAULT_SCHEDULER,
        help=f"the scheduler's admin address (default: ${ENV_SCHEDULER} or {DEFAULT_SCHEDULER})",
    )
    p.add_argument(
        "--gateway",
        metavar="URL",
        default=os.environ.get(ENV_GATEWAY) or DEFAULT_GATEWAY,
        help=f"the gateway's REST URL the model worker calls models through "
        f"(default: ${ENV_GATEWAY} or {DEFAULT_GATEWAY})",
    )
    p.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="which workers to run: model, dataflow, or all (default)",
    )
    p.add_argument("--metrics-host", default="127.0.0.1", help="address of /metrics and /health")
    p.add_argument(
        "--metrics-port",
        type=_port,
        default=0,
        metavar="PORT",
        help="serve /metrics and /health on this port (default 0: not served)",
    )
    p.add_argument(
        "--max-in-flight",
        type=positive,
        default=256,
        metavar="N",
        help="model worker: step requests handled at once (default 256)",
    )
    add_kafka_arguments(p, required=True)
    p.set_defaults(run=run_pipeline_worker)


def run_pipeline_worker(args: argparse.Namespace) -> int:
    kafka = kafka_config_from(args)
    if kafka is None:
        error(
            "pipeline-worker needs Kafka: give --kafka-bootstrap HOST:PORT "
            f"(or set ${ENV_BOOTSTRAP})"
        )
        return EXIT_USAGE

    from gateway.pipeline.worker_main import WorkerConfig, WorkerRole, run

    try:
        config = WorkerConfig(
            name=args.name,
            scheduler=args.scheduler,
            gateway_url=args.gateway,
            kafka=kafka,
            role=WorkerRole(args.role),
            metrics_host=args.metrics_host,
            metrics_port=args.metrics_port,
            max_in_flight=args.max_in_flight,
        )
    except ValueError as exc:
        error(str(exc))
        return EXIT_USAGE
    return run(config)
