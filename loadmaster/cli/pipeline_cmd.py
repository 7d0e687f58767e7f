"""`loadmaster pipeline load|unload|status|list|infer|inspect`: model chains over Kafka.

`load` validates every file before it sends anything, as `model load` does, and says per
pipeline whether the scheduler created it, changed it (a new version) or already had exactly
this spec; `--wait S` then blocks until each is PipelineReady, and stops at once on
PipelineFailed, whose reason names the reference that disagrees with a model. `status` lists
the steps with their models' states, so "why is my pipeline waiting" is one command away.
`infer` and `inspect` (in `pipeline_probe_cmd`) send a request and show what it left in Kafka.

Every command takes `-o json` (as well as `--json`) for scripts.
"""

from __future__ import annotations

import argparse
import time

from loadmaster.cli.admin_options import (
    AdminRun,
    CommandFailed,
    add_admin_options,
    add_resource_files,
    admin_command,
)
from loadmaster.cli.apply import Sent, Words, apply_each
from loadmaster.cli.arguments import seconds
from loadmaster.cli.infer_cmd import ENV_GATEWAY
from loadmaster.cli.kafka_options import add_kafka_arguments
from loadmaster.cli.output import EXIT_OK, EXIT_USAGE, note, print_fields, print_json, print_table
from loadmaster.cli.pipeline_probe_cmd import (
    DEFAULT_INSPECT_TIMEOUT_S,
    gateway_default,
    infer_pipeline,
    inspect_pipeline,
)
from loadmaster.client import AdminClient, pipeline_status_json
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.resources import PipelineSpec, load_pipeline_files

PipelineStatus = admin_pb2.PipelineStatusResponse
OUTPUTS = ("table", "json")


def add_pipeline(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("pipeline", help="load, unload, inspect and call pipelines (over Kafka)")
    commands = p.add_subparsers(dest="pipeline_command", required=True, metavar="COMMAND")

    load = commands.add_parser("load", help="load or change pipelines from YAML resources")
    add_resource_files(load, "Pipeline")
    load.add_argument(
        "--wait",
        type=seconds,
        metavar="S",
        help="then wait up to S seconds until every pipeline loaded is PipelineReady",
    )
    _options(load, _load)

    unload = commands.add_parser("unload", help="unload a pipeline (its models stay loaded)")
    unload.add_argument("name", metavar="NAME")
    _options(unload, _unload)

    status = commands.add_parser("status", help="show a pipeline's state and its steps")
    status.add_argument("name", metavar="NAME")
    _options(status, _status)

    listing = commands.add_parser("list", help="list every pipeline")
    _options(listing, _list)

    infer = commands.add_parser("infer", help="send one OIP request to a pipeline via a gateway")
    infer.add_argument("name", metavar="NAME")
    infer.add_argument(
        "-d",
        "--data",
        required=True,
        metavar="JSON",
        help="the OIP request body, or @PATH to read it from a file (@- for stdin)",
    )
    infer.add_argument(
        "--gateway",
        metavar="URL",
        default=gateway_default(),
        help=f"the gateway's REST address (default: ${ENV_GATEWAY})",
    )
    infer.add_argument(
        "--timeout-ms",
        type=int,
        metavar="N",
        help="the request's deadline, sent as x-request-timeout-ms (default: the gateway's)",
    )
    _options(infer, infer_pipeline)

    inspect = commands.add_parser(
        "inspect", help="show the records one request left in the pipeline's topics"
    )
    inspect.add_argument("name", metavar="NAME")
    inspect.add_argument(
        "--request-id",
        required=True,
        metavar="ID",
        help="the x-pipeline-request-id the gateway answered with, or the caller's x-request-id",
    )
    inspect.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_INSPECT_TIMEOUT_S,
        metavar="S",
        help=f"stop reading after S seconds (default {DEFAULT_INSPECT_TIMEOUT_S:g})",
    )
    add_kafka_arguments(inspect, required=True)
    _options(inspect, inspect_pipeline)


def _options(p: argparse.ArgumentParser, fn: AdminRun) -> None:
    add_admin_options(p)
    p.add_argument("-o", "--output", choices=OUTPUTS, default="table", help="json: as --json")
    p.set_defaults(run=admin_command(_with_output(fn)))


def _with_output(fn: AdminRun) -> AdminRun:
    def run(client: AdminClient, args: argparse.Namespace) -> int:
        args.json = args.json or args.output == "json"
        return fn(client, args)

    return run


def _load(client: AdminClient, args: argparse.Namespace) -> int:
    specs = load_pipeline_files(args.files)
    if not specs:
        raise CommandFailed(f"no Pipeline documents in {', '.join(args.files)}", EXIT_USAGE)
    existing = {p.name for p in client.list_pipelines()}
    loaded: list[str] = []

    def send(spec: PipelineSpec) -> Sent:
        version, changed = client.load_pipeline(spec)
        loaded.append(spec.name)
        return Sent(spec.name, version, changed)

    words = Words("pipeline", "version", "created", "updated", prefix_errors=True)
    status = apply_each(specs, lambda s: s.name, send, existing, words, args.json)
    if args.wait is not None:
        _wait_ready(client, loaded, args.wait, quiet=args.json)
    return status


def _wait_ready(client: AdminClient, names: list[str], timeout_s: float, quiet: bool) -> None:
    """Every pipeline in `names` ready within one shared `timeout_s`; the first that is not
    raises (a WaitTimeout or WaitFailed: the command fails with its message)."""
    deadline = time.monotonic() + timeout_s
    for name in names:
        left_s = round(max(deadline - time.monotonic(), 0.001), 3)  # as the user wrote it
        status = client.wait_pipeline_ready(name, left_s)
        if not quiet:
            print(f"pipeline {name}: {status.state}")


def _unload(client: AdminClient, args: argparse.Namespace) -> int:
    client.unload_pipeline(args.name)
    if args.json:
        print_json({"name": args.name, "result": "unloaded"})
    else:
        print(f"pipeline {args.name}: unloaded")
    return EXIT_OK


def _status(client: AdminClient, args: argparse.Namespace) -> int:
    status = client.pipeline_status(args.name)
    if args.json:
        print_json(pipeline_status_json(status))
        return EXIT_OK
    output = status.spec.output
    answer = ", ".join(output.steps) or (status.spec.steps[-1].name if status.spec.steps else "")
    print_fields(
        [
            ("name", status.name),
            ("version", status.version),
            ("state", status.state),
            ("output", answer),
            ("reason", status.reason),
        ]
    )
    print()
    models = {s.name: s for s in status.steps}
    print_table(
        ("STEP", "MODEL", "INPUTS", "READY", "MODEL STATE"),
        (_step_row(step, models.get(step.name)) for step in status.spec.steps),
    )
    return EXIT_OK


def _step_row(
    step: admin_pb2.PipelineStep, seen: admin_pb2.PipelineStepStatus | None
) -> tuple[object, ...]:
    inputs = ",".join(step.inputs) or "pipeline.inputs"
    if seen is None:
        return (step.name, step.model, inputs, "no", "")
    ready = "yes" if seen.ready else "no"
    return (step.name, step.model, inputs, ready, seen.model_state or "not loaded")


def _list(client: AdminClient, args: argparse.Namespace) -> int:
    pipelines = sorted(client.list_pipelines(), key=lambda p: p.name)
    if args.json:
        print_json([pipeline_status_json(p) for p in pipelines])
    elif not pipelines:
        note("no pipelines")
    else:
        print_table(
            ("NAME", "VERSION", "STATE", "STEPS", "REASON"),
            (
                (p.name, p.version, p.state, ",".join(s.name for s in p.spec.steps), p.reason)
                for p in pipelines
            ),
        )
    return EXIT_OK


__all__ = ["add_pipeline"]
