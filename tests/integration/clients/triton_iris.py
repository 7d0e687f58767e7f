"""tritonclient (HTTP) asks an OIP endpoint for iris predictions; prints one JSON report.

Run in its own process (brief §7: tritonclient registers `inference.*` protobuf symbols):
    python -m tests.integration.clients.triton_iris --url HOST:PORT --model iris --requests 20
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import tritonclient.http as httpclient

from tests.integration.clients.report import REPORT_PREFIX

SAMPLES = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    client = httpclient.InferenceServerClient(args.url)
    report: dict[str, object] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(args.model),
    }
    classes: list[list[int]] = []
    for _ in range(args.requests):
        tensor = httpclient.InferInput("input", list(SAMPLES.shape), "FP32")
        tensor.set_data_from_numpy(SAMPLES, binary_data=True)
        output = httpclient.InferRequestedOutput("probabilities", binary_data=True)
        result = client.infer(args.model, [tensor], outputs=[output])
        classes.append(result.as_numpy("probabilities").argmax(axis=1).tolist())
    report["classes"] = classes
    try:
        client.infer("no-such-model", [tensor])
        report["unknown_model"] = "no error"
    except Exception as exc:  # the client's exception type is its own; keep its words
        report["unknown_model"] = str(exc)
    print(REPORT_PREFIX + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
