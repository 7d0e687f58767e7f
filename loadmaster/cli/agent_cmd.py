"""`loadmaster agent`: run a server agent, stand-alone or joined to a scheduler."""

from __future__ import annotations

import argparse
from pathlib import Path

from loadmaster.cli.arguments import capabilities, memory, percent, positive, seconds_or_zero
from loadmaster.units import parse_memory


def add_agent(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "agent", help="run a server agent (a stand-alone OIP server without --scheduler)"
    )
    p.add_argument("--name", required=True, help="server name, unique in the cluster")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--http-port", type=int, default=9000)
    p.add_argument("--grpc-port", type=int, default=9500)
    p.add_argument("--models-dir", type=Path, help="stand-alone: load every model directory here")
    p.add_argument("--cache-dir", type=Path, default=Path(".loadmaster-cache"))
    p.add_argument("--memory", type=memory, default=parse_memory("4Gi"), help="e.g. 4Gi")
    p.add_argument("--capabilities", type=capabilities, default=frozenset({"torch"}))
    p.add_argument("--parallel-workers", type=positive, default=1)
    p.add_argument("--max-body", type=memory, default=parse_memory("64Mi"))
    joined = p.add_argument_group("joining a scheduler")
    joined.add_argument("--scheduler", help="HOST:PORT of the scheduler's agent endpoint")
    joined.add_argument("--pool", default="", help="server pool that models can pin to")
    joined.add_argument(
        "--overcommit",
        type=percent,
        default=0,
        metavar="PERCENT",
        help="let the scheduler place this much more memory than --memory (default 0)",
    )
    joined.add_argument(
        "--advertise-host",
        help="host the scheduler and gateway reach this agent at "
        "(default: --host, or 127.0.0.1 when --host is 0.0.0.0)",
    )
    joined.add_argument(
        "--drain-timeout",
        type=seconds_or_zero,
        default=60.0,
        metavar="SECONDS",
        help="on SIGTERM, wait at most this long for the scheduler to move replicas away",
    )
    p.set_defaults(run=run_agent)


def run_agent(args: argparse.Namespace) -> int:
    from agent.config import AgentConfig
    from agent.main import run

    config = AgentConfig(
        name=args.name,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        models_dir=args.models_dir.resolve() if args.models_dir else None,
        cache_dir=args.cache_dir.resolve(),
        memory_bytes=args.memory,
        capabilities=args.capabilities,
        parallel_workers=args.parallel_workers,
        scheduler=args.scheduler or None,
        max_body_bytes=args.max_body,
        pool=args.pool,
        overcommit_percent=args.overcommit,
        advertise_host=args.advertise_host or None,
        drain_timeout_s=args.drain_timeout,
    )
    return run(config)
