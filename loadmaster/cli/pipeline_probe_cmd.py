"""`loadmaster pipeline infer` and `pipeline inspect`: one request in, and what it left behind.

`infer` POSTs to a gateway's `/v2/pipelines/NAME/infer`, prints the answer, and on an error
prints the gateway's own message (which names the failing step and model) and exits 1. Both
ways it says on stderr which pipeline request id the gateway gave the request, the id that
`inspect` takes. `inspect` reads the pipeline's topics (the spec comes from the scheduler, the
records from Kafka) and lists that request's records topic by topic, so where a request went
astray can be read off: which steps ran with which tensors, which were skipped and why, which
model failed with what. The Kafka client is imported only here, when a command needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

from loadmaster.cli.admin_options import CommandFailed
from loadmaster.cli.infer_cmd import ENV_GATEWAY, _base_url, _request_body
from loadmaster.cli.kafka_options import ENV_BOOTSTRAP, kafka_config_from
from loadmaster.cli.output import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, error, print_json, print_table
from loadmaster.client import AdminClient
from loadmaster.kafka.bus import Bus, BusError
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.inspect import Seen, inspect_request
from loadmaster.kafka.topics import Topics
from loadmaster.resources import pipeline_from_proto

DEFAULT_INSPECT_TIMEOUT_S = 10.0
DEFAULT_HTTP_TIMEOUT_S = 120.0
TIMEOUT_HEADER = "x-request-timeout-ms"
PIPELINE_REQUEST_ID = "x-pipeline-request-id"


def gateway_default() -> str | None:
    return os.environ.get(ENV_GATEWAY) or None


def make_bus(config: KafkaConfig) -> Bus:
    """The real Kafka client (a seam: tests put an in-memory bus here)."""
    from loadmaster.kafka.aiokafka_bus import AiokafkaBus

    return AiokafkaBus(config)


def infer_pipeline(client: AdminClient, args: argparse.Namespace) -> int:
    if not args.gateway:
        raise CommandFailed(
            f"pipeline infer needs a gateway: give --gateway URL or set ${ENV_GATEWAY}",
            EXIT_USAGE,
        )
    if args.timeout_ms is not None and args.timeout_ms < 1:
        raise CommandFailed(f"--timeout-ms: must be at least 1, got {args.timeout_ms}", EXIT_USAGE)
    body = _request_body(args.data)
    name = urllib.parse.quote(args.name, safe="")
    url = f"{_base_url(args.gateway)}/v2/pipelines/{name}/infer"
    headers = {"Content-Type": "application/json"}
    wait_s = DEFAULT_HTTP_TIMEOUT_S
    if args.timeout_ms is not None:
        headers[TIMEOUT_HEADER] = str(args.timeout_ms)
        wait_s = args.timeout_ms / 1000 + 10  # the gateway answers 504 itself at the deadline
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=wait_s) as response:
            raw = response.read()
            _say_request_id(response.headers.get(PIPELINE_REQUEST_ID))
    except urllib.error.HTTPError as exc:
        _say_request_id(exc.headers.get(PIPELINE_REQUEST_ID) if exc.headers else None)
        raise CommandFailed(
            f"pipeline {args.name}: the gateway answered {exc.code}: {_error_message(exc)}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise CommandFailed(f"cannot reach the gateway at {args.gateway} ({why})") from None
    try:
        print_json(json.loads(raw))
    except ValueError:
        raise CommandFailed(f"{url} answered with a body that is not JSON") from None
    return EXIT_OK


def _say_request_id(request_id: str | None) -> None:
    if request_id:
        print(f"pipeline request id: {request_id}", file=sys.stderr)


def _error_message(exc: urllib.error.HTTPError) -> str:
    raw = exc.read()
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", "replace").strip()[:500] or str(exc.reason)


def inspect_pipeline(client: AdminClient, args: argparse.Namespace) -> int:
    config = kafka_config_from(args)
    if config is None:
        raise CommandFailed(
            "pipeline inspect needs Kafka: give --kafka-bootstrap HOST:PORT or set "
            f"${ENV_BOOTSTRAP}",
            EXIT_USAGE,
        )
    spec = pipeline_from_proto(client.pipeline_status(args.name).spec)
    topics = Topics.of(config)
    try:
        seen = asyncio.run(
            inspect_request(make_bus(config), topics, spec, args.request_id, args.timeout)
        )
    except BusError as exc:
        raise CommandFailed(f"Kafka at {config.bootstrap}: {exc}") from None
    if args.json:
        print_json([seen_json(s) for s in seen])
    elif seen:
        base = f"{topics.base}."
        print_table(
            ("TOPIC", "OFFSET", "TIME", "KIND", "STEP", "SUMMARY"),
            (
                (
                    s.topic.removeprefix(base),
                    f"{s.partition}:{s.offset}",
                    _time(s.timestamp_ms),
                    s.kind,
                    s.step,
                    s.summary,
                )
                for s in seen
            ),
        )
    if not seen:
        error(f"no records of request {args.request_id} in the topics of pipeline {args.name}")
        return EXIT_FAILURE
    return EXIT_OK


def seen_json(seen: Seen) -> dict[str, object]:
    return {
        "topic": seen.topic,
        "partition": seen.partition,
        "offset": seen.offset,
        "timestampMs": seen.timestamp_ms,
        "kind": seen.kind,
        "step": seen.step,
        "summary": seen.summary,
    }


def _time(timestamp_ms: int) -> str:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return moment.strftime("%H:%M:%S.") + f"{timestamp_ms % 1000:03d}"
