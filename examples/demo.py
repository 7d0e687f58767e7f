"""`make demo`: a whole Loadmaster cluster on this machine, used the way an operator would.

Builds the example models, starts a detached local cluster (`loadmaster up`: etcd, the Kafka
broker, the scheduler, two agents, the gateway, a pipeline worker), loads the examples (iris
with two replicas), lists models and servers, infers through the gateway with the CLI and with
tritonclient, runs an A/B experiment and prints the split it observed, runs a two-step
pipeline over Kafka and prints its answer, then stops the cluster. Every step prints
the command it runs and what it shows. Exits 0 only when every step worked; the cluster is
stopped whatever happened.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".data" / "demo-cluster"
GATEWAY_HTTP = "127.0.0.1:9000"
GATEWAY_GRPC = "127.0.0.1:9500"
SPLIT_REQUESTS = 200
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
IRIS_REQUEST = {
    "inputs": [
        {
            "name": "input",
            "datatype": "FP32",
            "shape": [2, 4],
            "data": [v for row in IRIS_ROWS for v in row],
        }
    ]
}

TRITON_CLIENT = """
import sys
import numpy as np
import tritonclient.http as httpclient
import tritonclient.grpc as grpcclient

http_url, grpc_url = sys.argv[1], sys.argv[2]
rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
for name, module, url in (("http", httpclient, http_url), ("grpc", grpcclient, grpc_url)):
    client = module.InferenceServerClient(url=url)
    assert client.is_server_ready() and client.is_model_ready("iris")
    tensor = module.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    result = client.infer("iris", [tensor])
    probabilities = result.as_numpy("probabilities")
    classes = probabilities.argmax(axis=1).tolist()
    print(f"  tritonclient {name} via the gateway: classes {classes}, "
          f"probabilities {np.round(probabilities, 3).tolist()}")
"""


class StepFailed(Exception):
    pass


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def loadmaster(*args: str, capture: bool = False) -> str:
    """Run `loadmaster ARGS` as a user would, showing the command; fail the demo on error."""
    print(f"$ loadmaster {' '.join(args)}", flush=True)
    command = [sys.executable, "-m", "loadmaster.cli.main", "--log-format", "console", *args]
    done = subprocess.run(command, cwd=ROOT, text=True, capture_output=capture, check=False)
    if capture and done.stderr:
        print(done.stderr, end="", file=sys.stderr)
    if done.returncode != 0:
        if capture:
            print(done.stdout, end="")
        raise StepFailed(f"`loadmaster {' '.join(args)}` exited {done.returncode}")
    return done.stdout if capture else ""


def post(
    path: str, payload: object, headers: dict[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    """POST JSON to the gateway; the answer and the experiment route header, if any."""
    request = urllib.request.Request(
        f"http://{GATEWAY_HTTP}{path}",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read()), response.headers.get("x-loadmaster-route", "")


def experiment_split() -> None:
    loadmaster("experiment", "start", "-f", "examples/experiments/iris-ab.yaml")
    loadmaster("experiment", "status", "iris-ab", "--wait", "--timeout", "120")
    print(f"  sending {SPLIT_REQUESTS} requests for model iris through the gateway ...")
    routed: Counter[str] = Counter()
    for _ in range(SPLIT_REQUESTS):
        answer, route = post("/v2/models/iris/infer", IRIS_REQUEST)
        if answer.get("model_name") != route:
            raise StepFailed(f"answer from {answer.get('model_name')} but routed to {route!r}")
        routed[route] += 1
    shares = ", ".join(f"{m} {n} ({n / SPLIT_REQUESTS:.0%})" for m, n in sorted(routed.items()))
    print(f"  the client saw: {shares}")
    if set(routed) != {"iris", "iris-v2"}:
        raise StepFailed(f"expected both candidates to answer, saw {dict(routed)}")
    deadline = time.monotonic() + 15
    while True:  # the gateway reports its counts to the scheduler every second
        status = json.loads(loadmaster("experiment", "status", "iris-ab", "--json", capture=True))
        if status.get("totalRequests") == SPLIT_REQUESTS:
            break
        if time.monotonic() > deadline:
            raise StepFailed(f"the scheduler saw {status.get('totalRequests')} requests")
        time.sleep(0.5)
    loadmaster("experiment", "status", "iris-ab")
    sticky, _ = post(
        "/v2/models/iris-ab.experiment/infer", IRIS_REQUEST, {"x-loadmaster-route": "iris-v2"}
    )
    print(f"  with x-loadmaster-route: iris-v2 the answer comes from {sticky['model_name']}")
    loadmaster("experiment", "stop", "iris-ab")


def pipeline() -> None:
    loadmaster("pipeline", "load", "-f", "examples/pipelines/iris-pipeline.yaml", "--wait", "120")
    loadmaster("pipeline", "status", "iris-pipeline")
    output = loadmaster(
        "pipeline", "infer", "iris-pipeline", "--gateway", GATEWAY_HTTP, "-d",
        json.dumps(IRIS_REQUEST), capture=True,
    )  # fmt: skip
    answer = json.loads(output)
    probabilities = next(o for o in answer["outputs"] if o["name"] == "probabilities")
    rows = [probabilities["data"][i : i + 3] for i in range(0, len(probabilities["data"]), 3)]
    classes = [max(range(3), key=row.__getitem__) for row in rows]
    print(f"  {answer['model_name']} answered through Kafka: classes {classes}, "
          f"probabilities {[[round(v, 3) for v in row] for row in rows]}")  # fmt: skip
    if classes != [0, 2]:
        raise StepFailed(f"expected setosa (0) and virginica (2), got {classes}")


def bad_request() -> None:
    bad = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 5], "data": [1] * 5}]}
    try:
        post("/v2/models/iris/infer", bad)
    except urllib.error.HTTPError as exc:
        print(f"  HTTP {exc.code}: {exc.read().decode()}")
        if exc.code != 400:
            raise StepFailed(f"expected 400 for a bad shape, got {exc.code}") from None
        return
    raise StepFailed("expected an error for a bad shape, got an answer")


def demo() -> None:
    sys.path.insert(0, str(ROOT))
    from examples.models.build_examples import build_all

    step("building the example models (seeded weights, nothing downloaded)")
    for path in build_all(ROOT / ".data" / "models"):
        print(f"  {path.relative_to(ROOT)}")

    step("starting a local cluster: etcd, Kafka broker, scheduler, 2 agents, gateway, worker")
    if DATA_DIR.exists():  # the demo starts from nothing: no models or experiments left over
        shutil.rmtree(DATA_DIR)
    loadmaster("up", "--detach", "--data-dir", str(DATA_DIR), "--agents", "2",
               "--agent-memory", "1Gi")  # fmt: skip

    step("loading the example models (iris with 2 replicas)")
    models = (
        "models/iris.yaml", "models/mlp.yaml", "models/identity.yaml", "experiments/iris-v2.yaml",
    )  # fmt: skip
    loadmaster("model", "load", *(arg for m in models for arg in ("-f", f"examples/{m}")))
    for model in ("iris", "mlp", "identity", "iris-v2"):
        loadmaster("model", "status", model, "--wait", "ModelAvailable", "--timeout", "120")

    step("what is running")
    loadmaster("model", "list")
    loadmaster("server", "list")

    step("inference through the gateway with the CLI")
    loadmaster("infer", "iris", "--gateway", GATEWAY_HTTP, "-d", json.dumps(IRIS_REQUEST))

    step("inference through the gateway with tritonclient (http and grpc), in its own process")
    subprocess.run(
        [sys.executable, "-c", TRITON_CLIENT, GATEWAY_HTTP, GATEWAY_GRPC], check=True, cwd=ROOT
    )

    step("an A/B experiment: iris-ab splits requests for iris 50/50 with iris-v2")
    experiment_split()

    step("a pipeline over Kafka: identity -> iris, with a tensor map")
    pipeline()

    step("a clear error for a bad request")
    bad_request()

    step("the cluster's own view")
    loadmaster("status", "--data-dir", str(DATA_DIR))


def main() -> int:
    os.chdir(ROOT)
    outcome = 0
    try:
        demo()
    except (StepFailed, subprocess.CalledProcessError, urllib.error.URLError, OSError) as exc:
        print(f"\ndemo FAILED: {exc}", file=sys.stderr)
        outcome = 1
    finally:
        step("stopping the cluster")
        try:
            loadmaster("down", "--data-dir", str(DATA_DIR))
        except StepFailed as exc:
            print(f"demo FAILED: {exc}", file=sys.stderr)
            outcome = 1
    if outcome == 0:
        print("\ndemo finished: every step worked")
    return outcome


if __name__ == "__main__":
    sys.exit(main())
