"""`loadmaster`: one command line for every part; services are imported lazily."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadmaster import logs
from loadmaster.units import parse_memory


def _memory(text: str) -> int:
    try:
        return parse_memory(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _capabilities(text: str) -> frozenset[str]:
    caps = frozenset(c.strip() for c in text.split(",") if c.strip())
    if not caps:
        raise argparse.ArgumentTypeError("give at least one capability, e.g. torch")
    return caps


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_agent(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "agent", help="run a server agent (a stand-alone OIP server without --scheduler)"
    )
    p.add_argument("--name", required=True, help="server name, unique in the cluster")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--http-port", type=int, default=9000)
    p.add_argument("--grpc-port", type=int, default=9500)
    p.add_argument("--models-dir", type=Path, help="stand-alone: load every model directory here")
    p.add_argument("--cache-dir", type=Path, default=Path(".loadmaster-cache"))
    p.add_argument("--memory", type=_memory, default=parse_memory("4Gi"), help="e.g. 4Gi")
    p.add_argument("--capabilities", type=_capabilities, default=frozenset({"torch"}))
    p.add_argument("--parallel-workers", type=_positive, default=1)
    p.add_argument("--scheduler", help="HOST:PORT of the scheduler's agent endpoint")
    p.add_argument("--max-body", type=_memory, default=parse_memory("64Mi"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadmaster", description="Loadmaster model serving")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", choices=("json", "console"), default="json")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_agent(sub)
    return parser


def _run_agent(args: argparse.Namespace) -> int:
    if args.scheduler:
        print(
            "error: --scheduler: joining a scheduler is not available in this release; "
            "run without it for a stand-alone agent",
            file=sys.stderr,
        )
        return 2
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
        scheduler=args.scheduler,
        max_body_bytes=args.max_body,
    )
    return run(config)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure_logging(args.log_level, json=args.log_format == "json")
    if args.command == "agent":
        return _run_agent(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
