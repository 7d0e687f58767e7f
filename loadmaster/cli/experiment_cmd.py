"""`loadmaster experiment start|stop|status|list`: traffic splits between models.

`start` validates every file before it sends anything, as `model load` does, and says per
experiment whether the scheduler started it, changed it (a new uid: the split starts counting
afresh) or already had exactly this spec. `status` shows the split as configured next to the
split the gateways observed, so whether an experiment "works" is one command away; `--wait`
blocks until every model it names can take requests.
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
from loadmaster.client import AdminClient, experiment_status_json
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.resources import ExperimentSpec, load_experiment_files

DEFAULT_WAIT_S = 60.0
ExperimentStatus = admin_pb2.ExperimentStatusResponse


def add_experiment(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("experiment", help="start, stop and inspect experiments (traffic splits)")
    commands = p.add_subparsers(dest="experiment_command", required=True, metavar="COMMAND")

    start = commands.add_parser("start", help="start or change experiments from YAML resources")
    add_resource_files(start, "Experiment")
    add_admin_options(start)
    start.set_defaults(run=admin_command(_start))

    stop = commands.add_parser("stop", help="stop an experiment: requests go to models again")
    stop.add_argument("name", metavar="NAME")
    add_admin_options(stop)
    stop.set_defaults(run=admin_command(_stop))

    status = commands.add_parser("status", help="show an experiment's split and its models")
    status.add_argument("name", metavar="NAME")
    status.add_argument(
        "--wait", action="store_true", help="wait until the experiment is ExperimentReady"
    )
    status.add_argument(
        "--timeout",
        type=seconds,
        metavar="S",
        help=f"with --wait: give up after S seconds (default {DEFAULT_WAIT_S:g})",
    )
    add_admin_options(status)
    status.set_defaults(run=admin_command(_status))

    listing = commands.add_parser("list", help="list every experiment")
    add_admin_options(listing)
    listing.set_defaults(run=admin_command(_list))


def _start(client: AdminClient, args: argparse.Namespace) -> int:
    specs = load_experiment_files(args.files)
    if not specs:
        raise CommandFailed(f"no Experiment documents in {', '.join(args.files)}", EXIT_USAGE)
    existing = {e.name for e in client.list_experiments()}

    def send(spec: ExperimentSpec) -> Sent:
        reply = client.start_experiment(spec)
        return Sent(reply.name, reply.uid, reply.changed)

    words = Words("experiment", "uid", "started", "changed", prefix_errors=True)
    return apply_each(specs, lambda s: s.name, send, existing, words, args.json)


def _stop(client: AdminClient, args: argparse.Namespace) -> int:
    client.stop_experiment(args.name)
    if args.json:
        print_json({"name": args.name, "result": "stopped"})
    else:
        print(f"experiment {args.name}: stopped")
    return EXIT_OK


def _status(client: AdminClient, args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        raise CommandFailed("--timeout needs --wait", EXIT_USAGE)
    if args.wait:
        timeout_s = DEFAULT_WAIT_S if args.timeout is None else args.timeout
        status = client.wait_for_experiment(args.name, timeout_s)
    else:
        status = client.experiment_status(args.name)
    if args.json:
        print_json(experiment_status_json(status))
    else:
        _print_status(status)
    return EXIT_OK


def _print_status(status: ExperimentStatus) -> None:
    print_fields(
        [
            ("name", status.name),
            ("uid", status.uid),
            ("state", status.state),
            ("default", status.spec.default_model),
            ("requests", status.total_requests),
            ("reason", status.reason),
        ]
    )
    print()
    rows = [_row(c, "candidate", c.weight, status) for c in status.candidates]
    if status.HasField("mirror"):
        rows.append(_row(status.mirror, "mirror", "", status))
    print_table(
        ("MODEL", "ROLE", "WEIGHT", "EXPECTED", "OBSERVED", "REQUESTS", "READY", "STATE"), rows
    )


def _row(
    c: admin_pb2.CandidateStatus, role: str, weight: object, status: ExperimentStatus
) -> tuple[object, ...]:
    """OBSERVED stays empty until a gateway reported a request: 0% would read as a verdict."""
    observed = _percent(c.observed_share) if status.total_requests else ""
    ready = "yes" if c.ready else "no"
    expected = _percent(c.expected_share)
    return (c.model, role, weight, expected, observed, c.requests, ready, c.model_state)


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _list(client: AdminClient, args: argparse.Namespace) -> int:
    experiments = sorted(client.list_experiments(), key=lambda e: e.name)
    if args.json:
        print_json([experiment_status_json(e) for e in experiments])
    elif not experiments:
        note("no experiments")
    else:
        print_table(
            ("NAME", "STATE", "DEFAULT", "CANDIDATES", "MIRROR", "REQUESTS", "REASON"),
            (
                (
                    e.name,
                    e.state,
                    e.spec.default_model,
                    ",".join(f"{c.model}:{c.weight}" for c in e.spec.candidates),
                    _mirror(e),
                    e.total_requests,
                    e.reason,
                )
                for e in experiments
            ),
        )
    return EXIT_OK


def _mirror(status: ExperimentStatus) -> str:
    if not status.spec.HasField("mirror"):
        return ""
    return f"{status.spec.mirror.model}:{status.spec.mirror.percent}%"
