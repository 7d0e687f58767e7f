"""`make demo`: build the example models, serve them with one agent, call them, stop.

Exits 0 only when every step worked. Steps print what they show, so a new user sees the
server's answers. (The whole cluster — scheduler, gateway, pipelines — joins in later releases.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data" / "demo"

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
    print(f"  tritonclient {name}: classes {probabilities.argmax(axis=1).tolist()}, "
          f"probabilities {np.round(probabilities, 3).tolist()}")
"""


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(method: str, url: str, payload: object | None = None) -> object:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the agent exited with code {process.returncode}")
        try:
            call("GET", url)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise TimeoutError("the agent did not become ready")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from examples.models.build_examples import build_all

    step("building the example models (seeded weights, nothing downloaded)")
    models = DATA / "models"
    for path in build_all(models):
        print(f"  {path.relative_to(ROOT)}")

    step("starting a stand-alone agent with 2 parallel workers")
    http_port, grpc_port = free_port(), free_port()
    log_path = DATA / "agent.log"
    command = [
        sys.executable, "-m", "loadmaster.cli.main", "--log-format", "console",
        "agent", "--name", "demo", "--http-port", str(http_port), "--grpc-port", str(grpc_port),
        "--models-dir", str(models), "--cache-dir", str(DATA / "cache"),
        "--capabilities", "torch,python", "--parallel-workers", "2",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{http_port}"
    with log_path.open("wb") as log:
        agent = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_ready(f"{base}/v2/health/ready", agent)
        print(f"  OIP REST {base}   OIP gRPC 127.0.0.1:{grpc_port}   log {log_path}")

        step("repository index")
        for entry in call("POST", f"{base}/v2/repository/index", {}):  # type: ignore[attr-defined]
            print(f"  {entry['name']:<12} version {entry['version']:<3} {entry['state']}")

        step("model metadata of iris")
        meta = call("GET", f"{base}/v2/models/iris")
        print(textwrap.indent(json.dumps(meta, indent=1), "  "))

        step("inference over REST JSON")
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        payload = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 4],
                               "data": [v for row in rows for v in row]}]}  # fmt: skip
        answer = call("POST", f"{base}/v2/models/iris/infer", payload)
        print(f"  {json.dumps(answer)}")

        step("inference with tritonclient (http and grpc), in its own process")
        subprocess.run(
            [
                sys.executable,
                "-c",
                TRITON_CLIENT,
                f"127.0.0.1:{http_port}",
                f"127.0.0.1:{grpc_port}",
            ],
            check=True,
        )

        step("a clear error for a bad request")
        bad = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 5], "data": [1] * 5}]}
        try:
            call("POST", f"{base}/v2/models/iris/infer", bad)
            print("  expected an error, got an answer")
            return 1
        except urllib.error.HTTPError as exc:
            print(f"  HTTP {exc.code}: {exc.read().decode()}")
    finally:
        step("stopping the agent")
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
    print(f"\ndemo finished: every step worked (agent exit code {agent.returncode})")
    return 0 if agent.returncode == 0 else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
