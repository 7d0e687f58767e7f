"""`loadmaster model load|unload|status|list`: the Model resource life cycle from a terminal.

`load` validates every file before it sends anything, so a typo in the third document does not
leave the first two applied; it reports per model whether the scheduler created, updated or
already had it, as `kubectl apply` does. `status --wait` follows the scheduler's status stream,
so scripts can block until a model is `ModelAvailable` instead of polling.
"""

from __future__ import annotations

import argparse

from loadmaster.cli.admin_options import (
    CommandFailed,
    add_admin_options,
    add_resource_files,
    admin_command,
)
from loadmaster.cli.apply import Sent, Words, apply_each
from loadmaster.cli.arguments import seconds
from loadmaster.cli.output import (
    EXIT_OK,
    EXIT_USAGE,
    note,
    print_fields,
    print_json,
    print_table,
)
from loadmaster.client import AdminClient, model_status_json
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.model_state import ModelState
from loadmaster.resources import ModelSpec, load_resource_files

DEFAULT_WAIT_S = 60.0


def add_model(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("model", help="load, unload and inspect models")
    commands = p.add_subparsers(dest="model_command", required=True, metavar="COMMAND")

    load = commands.add_parser("load", help="create or update models from YAML resources")
    add_resource_files(load, "Model")
    add_admin_options(load)
    load.set_defaults(run=admin_command(_load))

    unload = commands.add_parser("unload", help="unload a model from every server")
    unload.add_argument("name", metavar="NAME")
    add_admin_options(unload)
    unload.set_defaults(run=admin_command(_unload))

    status = commands.add_parser("status", help="show a model's state and replicas")
    status.add_argument("name", metavar="NAME")
    status.add_argument(
        "--wait",
        metavar="STATE",
        choices=[state.value for state in ModelState],
        help="wait until the model is in STATE, e.g. ModelAvailable",
    )
    status.add_argument(
        "--timeout",
        type=seconds,
        metavar="S",
        help=f"with --wait: give up after S seconds (default {DEFAULT_WAIT_S:g})",
    )
    add_admin_options(status)
    status.set_defaults(run=admin_command(_status))

    listing = commands.add_parser("list", help="list every model")
    add_admin_options(listing)
    listing.set_defaults(run=admin_command(_list))


def _load(client: AdminClient, args: argparse.Namespace) -> int:
    specs = load_resource_files(args.files)
    if not specs:
        raise CommandFailed(f"no Model documents in {', '.join(args.files)}", EXIT_USAGE)
    existing = {model.name for model in client.list_models()}

    def send(spec: ModelSpec) -> Sent:
        reply = client.load_model(spec)
        return Sent(reply.name, reply.version, reply.changed)

    words = Words("model", "version", "created", "updated")
    return apply_each(specs, lambda s: s.name, send, existing, words, args.json)


def _unload(client: AdminClient, args: argparse.Namespace) -> int:
    client.unload_model(args.name)
    if args.json:
        print_json({"name": args.name, "result": "unloading"})
    else:
        print(f"model {args.name}: unloading")
    return EXIT_OK


def _status(client: AdminClient, args: argparse.Namespace) -> int:
    if args.timeout is not None and args.wait is None:
        raise CommandFailed("--timeout needs --wait STATE", EXIT_USAGE)
    if args.wait is None:
        status = client.model_status(args.name)
    else:
        timeout_s = DEFAULT_WAIT_S if args.timeout is None else args.timeout
        status = client.wait_for_model(args.name, args.wait, timeout_s)
    if args.json:
        print_json(model_status_json(status))
    else:
        _print_status(status)
    return EXIT_OK


def _print_status(status: admin_pb2.ModelStatusResponse) -> None:
    print_fields(
        [
            ("name", status.name),
            ("version", status.version),
            ("state", status.state),
            ("scheduling", status.scheduling),
            ("replicas", f"{status.available_replicas}/{status.desired_replicas} available"),
            ("reason", status.reason),
        ]
    )
    if status.replicas:
        print()
        print_table(
            ("SERVER", "STATE", "VERSION", "REASON"),
            ((r.server, r.state, r.version, r.reason) for r in status.replicas),
        )


def _list(client: AdminClient, args: argparse.Namespace) -> int:
    models = sorted(client.list_models(), key=lambda m: m.name)
    if args.json:
        print_json([model_status_json(m) for m in models])
    elif not models:
        note("no models")
    else:
        print_table(
            ("NAME", "VERSION", "STATE", "SCHEDULING", "AVAILABLE", "REASON"),
            (
                (
                    m.name,
                    m.version,
                    m.state,
                    m.scheduling,
                    f"{m.available_replicas}/{m.desired_replicas}",
                    m.reason,
                )
                for m in models
            ),
        )
    return EXIT_OK
