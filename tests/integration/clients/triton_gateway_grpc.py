"""tritonclient (gRPC) through the gateway's OIP gRPC front door; prints one JSON report line.

Run in its own process (brief §7: tritonclient registers `inference.*` protobuf symbols), from
the repository root, against a gateway whose cluster serves `iris`, `echo-stream` and `sleepy`
(the conftest model that sleeps for its input's first value, in seconds):

    python -m tests.integration.clients.triton_gateway_grpc --grpc 127.0.0.1:9500
"""

from __future__ import annotations

import argparse
import queue
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from tests.integration.clients.report import Check, client_side, emit, no_error, run_checks

IRIS_ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
STREAM_TEXTS = (b"alpha", "\u03b2\u00eata".encode(), b"gamma")


def error_of(call: Any) -> dict[str, Any]:
    try:
        call()
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    except Exception as exc:
        return client_side(exc)
    return no_error()


def texts(items: tuple[bytes, ...]) -> Any:
    array = np.empty(len(items), dtype=np.object_)
    array[:] = items
    tensor = grpcclient.InferInput("text", [len(items)], "BYTES")
    tensor.set_data_from_numpy(array)
    return tensor


def iris_classes(client: Any, requests: int) -> list[list[int]]:
    tensor = grpcclient.InferInput("input", list(IRIS_ROWS.shape), "FP32")
    tensor.set_data_from_numpy(IRIS_ROWS)
    classes = []
    for index in range(requests):
        result = client.infer("iris", [tensor], request_id=f"iris-{index}")
        classes.append(result.as_numpy("probabilities").argmax(axis=1).tolist())
    return classes


def stream(address: str) -> list[dict[str, Any]]:
    """Parts of two echo-stream requests with a request for an unknown model between them."""
    client = grpcclient.InferenceServerClient(url=address)
    received: queue.Queue[dict[str, Any]] = queue.Queue()

    def on_reply(result: Any, error: Any) -> None:
        if error is not None:
            received.put({"error": error.message()})
            return
        response = result.get_response()
        parts = [bytes(t).decode() for t in result.as_numpy("text").reshape(-1).tolist()]
        received.put({"id": response.id, "text": parts})

    client.start_stream(callback=on_reply)
    client.async_stream_infer("echo-stream", [texts(STREAM_TEXTS)], request_id="first")
    client.async_stream_infer("nope", [texts((b"lost",))], request_id="missing")
    client.async_stream_infer("echo-stream", [texts((b"x", b"yz"))], request_id="second")
    client.stop_stream()  # waits for the gateway to end the call
    client.close()
    return [received.get_nowait() for _ in range(received.qsize())]


def sleepy_past_its_deadline(client: Any, seconds: float, timeout_s: float) -> dict[str, Any]:
    tensor = grpcclient.InferInput("x", [1], "FP32")
    tensor.set_data_from_numpy(np.array([seconds], dtype=np.float32))
    return error_of(lambda: client.infer("sleepy", [tensor], client_timeout=timeout_s))


def checks(address: str, requests: int) -> dict[str, Check]:
    client = grpcclient.InferenceServerClient(url=address)
    return {
        "health": lambda: {
            "live": client.is_server_live(),
            "ready": client.is_server_ready(),
            "iris_ready": client.is_model_ready("iris"),
            "server": client.get_server_metadata().name,
        },
        "metadata": lambda: client.get_model_metadata("iris").name,
        "classes": lambda: iris_classes(client, requests),
        "unknown_model": lambda: error_of(lambda: client.infer("nope", [texts((b"a",))])),
        "repository": lambda: error_of(lambda: client.load_model("iris")),
        "stream": lambda: stream(address),
        "deadline": lambda: sleepy_past_its_deadline(client, seconds=1.5, timeout_s=0.5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grpc", required=True, help="the gateway's gRPC address, HOST:PORT")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    emit(run_checks(checks(args.grpc, args.requests)))


if __name__ == "__main__":
    main()
