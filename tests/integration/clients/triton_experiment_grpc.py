"""tritonclient (gRPC) infers through an experiment at the gateway; prints one JSON report line.

Run in its own process (brief §7: tritonclient registers `inference.*` protobuf symbols), from
the repository root, against a gateway routing an experiment over iris-artifact models:

    python -m tests.integration.clients.triton_experiment_grpc --grpc 127.0.0.1:9500 \
        --name iris-ab.experiment --sticky iris-v2

The report names the model that answered each request (the response's `model_name`), so the
test can tell which candidate an experiment chose without trusting the gateway's own header.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from tests.integration.clients.report import Check, client_side, emit, no_error, run_checks

IRIS_ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
ROUTE_HEADER = "x-loadmaster-route"


def answers(
    client: Any, name: str, requests: int, headers: dict[str, str] | None
) -> list[dict[str, Any]]:
    """Which model answered each of `requests` inferences of `name`, and its classes."""
    tensor = grpcclient.InferInput("input", list(IRIS_ROWS.shape), "FP32")
    tensor.set_data_from_numpy(IRIS_ROWS)
    replies = []
    for index in range(requests):
        result = client.infer(name, [tensor], request_id=f"exp-{index}", headers=headers)
        classes = result.as_numpy("probabilities").argmax(axis=1).tolist()
        replies.append({"model": result.get_response().model_name, "classes": classes})
    return replies


def error_of(client: Any, name: str) -> dict[str, Any]:
    tensor = grpcclient.InferInput("input", list(IRIS_ROWS.shape), "FP32")
    tensor.set_data_from_numpy(IRIS_ROWS)
    try:
        client.infer(name, [tensor])
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    except Exception as exc:
        return client_side(exc)
    return no_error()


def checks(args: argparse.Namespace) -> dict[str, Check]:
    client = grpcclient.InferenceServerClient(url=args.grpc)
    pinned = {ROUTE_HEADER: args.sticky} if args.sticky else None
    found: dict[str, Check] = {
        "split": lambda: answers(client, args.name, args.requests, None),
        "sticky": lambda: answers(client, args.name, args.requests, pinned),
    }
    for name in args.also or ():
        found[f"also:{name}"] = functools.partial(answers, client, name, args.requests, None)
    if args.unknown:
        found["unknown"] = lambda: error_of(client, args.unknown)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grpc", required=True, help="the gateway's gRPC address, HOST:PORT")
    parser.add_argument("--name", required=True, help="the name to infer, e.g. NAME.experiment")
    parser.add_argument("--requests", type=int, default=10, help="inferences per check")
    parser.add_argument("--sticky", default="", help="the candidate to pin with the route header")
    parser.add_argument("--also", action="append", help="another name to infer as often")
    parser.add_argument("--unknown", default="", help="a name expected to be NOT_FOUND")
    emit(run_checks(checks(parser.parse_args())))


if __name__ == "__main__":
    main()
