"""`loadmaster infer MODEL -d JSON`: one OIP REST inference, through the gateway or straight
to a ready replica.

For checking that a model answers, not for traffic. With `--gateway` (or
`$LOADMASTER_GATEWAY`) it POSTs `/v2/models/MODEL/infer` to the gateway, so MODEL may also be
an experiment (`NAME.experiment`) and the candidate that answered is named on stderr. Without
one it asks the scheduler which replica is `Available` (the current version's first) and which
HTTP endpoint its server has, and POSTs there: the command then needs no gateway at all. A
replica that cannot be reached is skipped for the next one; an answer, even an error, is final.
Both ways use the standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from loadmaster.cli.admin_options import CommandFailed, add_admin_options, admin_command
from loadmaster.cli.output import EXIT_OK, EXIT_USAGE, print_json
from loadmaster.client import AdminClient
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.replica_state import SERVING

DEFAULT_TIMEOUT_S = 60.0
ENV_GATEWAY = "LOADMASTER_GATEWAY"
ROUTE_HEADER = "x-loadmaster-route"


def add_infer(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("infer", help="send one OIP inference request to a model")
    p.add_argument("model", metavar="MODEL")
    p.add_argument(
        "-d",
        "--data",
        required=True,
        metavar="JSON",
        help="the OIP request body, or @PATH to read it from a file (@- for stdin)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--gateway",
        metavar="HOST:PORT",
        default=os.environ.get(ENV_GATEWAY) or None,
        help=f"send through this gateway's REST port (default: ${ENV_GATEWAY}; without one, "
        "straight to a replica the scheduler names)",
    )
    add_admin_options(p)
    p.set_defaults(run=admin_command(_infer))


def _infer(client: AdminClient, args: argparse.Namespace) -> int:
    body = _request_body(args.data)
    if args.gateway:
        return _through_gateway(args.gateway, args.model, body, args.timeout)
    status = client.model_status(args.model)
    endpoints = _endpoints(status, client.list_servers())
    if not endpoints:
        reason = f": {status.reason}" if status.reason else ""
        raise CommandFailed(
            f"model {args.model} has no available replica (state {status.state or 'unknown'}"
            f"{reason})"
        )
    path = f"/v2/models/{urllib.parse.quote(args.model, safe='')}/infer"
    unreachable: list[str] = []
    for endpoint in endpoints:
        try:
            answer, _ = _post(_base_url(endpoint) + path, body, args.timeout)
        except urllib.error.HTTPError as exc:
            raise CommandFailed(_agent_error(endpoint, exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            unreachable.append(f"{endpoint} ({why})")
            continue
        print_json(answer)
        return EXIT_OK
    raise CommandFailed(f"cannot reach any replica of {args.model}: {'; '.join(unreachable)}")


def _through_gateway(gateway: str, model: str, body: bytes, timeout_s: float) -> int:
    url = f"{_base_url(gateway)}/v2/models/{urllib.parse.quote(model, safe='')}/infer"
    try:
        answer, route = _post(url, body, timeout_s)
    except urllib.error.HTTPError as exc:
        raise CommandFailed(_agent_error(f"gateway {gateway}", exc)) from None
    except (urllib.error.URLError, OSError) as exc:
        why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise CommandFailed(f"cannot reach the gateway at {gateway} ({why})") from None
    if route:
        print(f"routed to {route} by an experiment", file=sys.stderr)
    print_json(answer)
    return EXIT_OK


def _request_body(data: str) -> bytes:
    """The body as given, once it is known to be a JSON object (OIP requests are objects)."""
    if data.startswith("@"):
        source = data[1:]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandFailed(f"-d {data}: cannot read: {exc}", EXIT_USAGE) from None
    else:
        text = data
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandFailed(f"-d: invalid JSON: {exc}", EXIT_USAGE) from None
    if not isinstance(parsed, dict):
        raise CommandFailed("-d: an OIP request is a JSON object with `inputs`", EXIT_USAGE)
    return text.encode("utf-8")


def _endpoints(
    status: admin_pb2.ModelStatusResponse, servers: list[admin_pb2.ServerStatusResponse]
) -> list[str]:
    """HTTP endpoints of serving replicas, the current version's first, each server once."""
    http = {s.name: s.http_endpoint for s in servers if s.http_endpoint}
    ready = [r for r in status.replicas if r.state in SERVING and r.server in http]
    ready.sort(key=lambda r: r.version != status.version)
    return list(dict.fromkeys(http[r.server] for r in ready))


def _base_url(endpoint: str) -> str:
    if endpoint.startswith(("http://", "https://")):
        return endpoint.rstrip("/")
    return f"http://{endpoint}"


def _post(url: str, body: bytes, timeout_s: float) -> tuple[object, str | None]:
    """The JSON answer and the experiment route header, if the answer carried one."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        raw = response.read()
        route = response.headers.get(ROUTE_HEADER)
    try:
        return json.loads(raw), route
    except ValueError:
        raise CommandFailed(f"{url} answered with a body that is not JSON") from None


def _agent_error(endpoint: str, exc: urllib.error.HTTPError) -> str:
    """The `{"error": ...}` message with its HTTP status; the raw text otherwise."""
    raw = exc.read()
    try:
        message = json.loads(raw)["error"]
    except (ValueError, KeyError, TypeError):
        message = raw.decode("utf-8", "replace").strip()[:500] or exc.reason
    where = endpoint if endpoint.startswith("gateway ") else f"the agent at {endpoint}"
    return f"{where} answered {exc.code}: {message}"
