"""`loadmaster`: one command line for every part; services are imported lazily.

Each subcommand lives in its own module with an `add_*` function that registers its parser and
sets `run`, the function `main` calls with the parsed arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from loadmaster import logs
from loadmaster.cli.agent_cmd import add_agent
from loadmaster.cli.cluster_cmd import add_cluster_commands
from loadmaster.cli.experiment_cmd import add_experiment
from loadmaster.cli.gateway_cmd import add_gateway
from loadmaster.cli.infer_cmd import add_infer
from loadmaster.cli.model_cmd import add_model
from loadmaster.cli.pipeline_cmd import add_pipeline
from loadmaster.cli.pipeline_worker_cmd import add_pipeline_worker
from loadmaster.cli.scheduler_cmd import add_scheduler
from loadmaster.cli.server_cmd import add_server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadmaster", description="Loadmaster model serving")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", choices=("json", "console"), default="json")
    sub = parser.add_subparsers(dest="command", required=True)
    add_agent(sub)
    add_scheduler(sub)
    add_gateway(sub)
    add_model(sub)
    add_server(sub)
    add_infer(sub)
    add_experiment(sub)
    add_pipeline(sub)
    add_pipeline_worker(sub)
    add_cluster_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure_logging(args.log_level, json=args.log_format == "json")
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
