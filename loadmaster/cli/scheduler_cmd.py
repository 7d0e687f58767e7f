"""`loadmaster scheduler`: run the scheduler (admin API, agent endpoint, metrics).

Flags left out keep `SchedulerConfig`'s own defaults, so there is one place that says what the
defaults are; the scheduler package is imported only when this command runs, so the admin
commands start without loading placement (and numpy). Bad flag combinations and store URLs are
refused here, before anything listens, with exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from loadmaster.cli.arguments import seconds_or_zero
from loadmaster.cli.output import EXIT_USAGE, error

PACKINGS = ("best-fit", "spread")


def add_scheduler(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("scheduler", help="run the scheduler")
    p.add_argument(
        "--store",
        default="memory://",
        metavar="URL",
        help="etcd://HOST:PORT, or memory:// for an in-process store lost on exit (the default)",
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--admin-port", type=_port, metavar="PORT", help="admin gRPC port (default 9004)"
    )
    p.add_argument(
        "--agent-port", type=_port, metavar="PORT", help="agent stream port (default 9005)"
    )
    p.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="Prometheus port, 0 for none (default 9006)",
    )
    p.add_argument(
        "--heartbeat-interval",
        type=seconds_or_zero,
        metavar="S",
        help="agent heartbeat (default 1)",
    )
    p.add_argument(
        "--heartbeat-timeout",
        type=seconds_or_zero,
        metavar="S",
        help="a server silent this long is Lost and its replicas move (default 5)",
    )
    p.add_argument(
        "--startup-grace",
        type=seconds_or_zero,
        metavar="S",
        help="after a start, wait this long for agents to re-register before placing "
        "(default: the heartbeat timeout, at least 10)",
    )
    p.add_argument(
        "--packing",
        choices=PACKINGS,
        default="best-fit",
        help="best-fit fills servers up (the default); spread balances free memory",
    )
    p.set_defaults(run=run_scheduler)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def run_scheduler(args: argparse.Namespace) -> int:
    from scheduler.config import SchedulerConfig
    from scheduler.placement import DEFAULT_POLICY, Packing
    from scheduler.store import BadStoreUrl, parse_store_url

    try:
        parse_store_url(args.store)
    except BadStoreUrl as exc:
        error(f"--store: {exc}")
        return EXIT_USAGE
    given: dict[str, Any] = {
        "host": args.host,
        "admin_port": args.admin_port,
        "agent_port": args.agent_port,
        "metrics_port": args.metrics_port,
        "heartbeat_interval_s": args.heartbeat_interval,
        "heartbeat_timeout_s": args.heartbeat_timeout,
        "startup_grace_s": args.startup_grace,
    }
    packing = Packing.SPREAD if args.packing == "spread" else Packing.BEST_FIT
    try:
        config = SchedulerConfig(
            store=args.store,
            policy=dataclasses.replace(DEFAULT_POLICY, packing=packing),
            **{key: value for key, value in given.items() if value is not None},
        )
    except ValueError as exc:
        error(str(exc))
        return EXIT_USAGE
    from scheduler.main import run

    return run(config)
