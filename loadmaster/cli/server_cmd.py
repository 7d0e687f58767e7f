"""`loadmaster server list|status`: what each server offers and what it holds.

Servers join by registering their agent, so there is nothing to create here: these commands
only read what the scheduler observed, in the same shape `--json` gives scripts.
"""

from __future__ import annotations

import argparse

from loadmaster.cli.admin_options import add_admin_options, admin_command
from loadmaster.cli.output import EXIT_OK, note, print_fields, print_json, print_table
from loadmaster.client import AdminClient, server_json
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.units import format_memory


def add_server(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("server", help="inspect the servers the scheduler knows")
    commands = p.add_subparsers(dest="server_command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="list every server")
    add_admin_options(listing)
    listing.set_defaults(run=admin_command(_list))

    status = commands.add_parser("status", help="show one server's capacity and replicas")
    status.add_argument("name", metavar="NAME")
    add_admin_options(status)
    status.set_defaults(run=admin_command(_status))


def _list(client: AdminClient, args: argparse.Namespace) -> int:
    servers = sorted(client.list_servers(), key=lambda s: s.name)
    if args.json:
        print_json([server_json(s) for s in servers])
    elif not servers:
        note("no servers")
    else:
        print_table(
            ("NAME", "STATE", "POOL", "MEMORY", "FREE", "WORKERS", "GPUS", "MODELS", "HTTP"),
            (
                (
                    s.name,
                    s.state,
                    s.pool,
                    format_memory(s.memory_bytes),
                    format_memory(s.free_memory_bytes),
                    s.parallel_workers,
                    len(s.gpus),
                    len(s.loaded),
                    s.http_endpoint,
                )
                for s in servers
            ),
        )
    return EXIT_OK


def _status(client: AdminClient, args: argparse.Namespace) -> int:
    server = client.server_status(args.name)
    if args.json:
        print_json(server_json(server))
    else:
        _print_server(server)
    return EXIT_OK


def _print_server(s: admin_pb2.ServerStatusResponse) -> None:
    gpus = ", ".join(
        f"{g.index}: {format_memory(g.free_bytes)} free of {format_memory(g.memory_bytes)}"
        for g in s.gpus
    )
    print_fields(
        [
            ("name", s.name),
            ("state", s.state),
            ("pool", s.pool),
            ("http", s.http_endpoint),
            ("grpc", s.grpc_endpoint),
            (
                "memory",
                f"{format_memory(s.free_memory_bytes)} free of {format_memory(s.memory_bytes)}",
            ),
            ("workers", s.parallel_workers),
            ("overcommit", f"{s.overcommit_percent}%"),
            ("capabilities", ", ".join(sorted(s.capabilities))),
            ("gpus", gpus),
        ]
    )
    if s.loaded:
        print()
        print_table(
            ("MODEL", "VERSION", "STATE", "REASON"),
            ((r.model, r.version, r.state, r.reason) for r in s.loaded),
        )
