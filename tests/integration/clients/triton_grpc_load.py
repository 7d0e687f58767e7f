"""Steady tritonclient gRPC inferences against one model until a stop file appears.

Run in its own process (brief §7), from the repository root; prints one JSON line at the end:
`{"ok": N, "failures": ["..."]}`, so a test can assert that nothing failed while, say, the
model rolled to a new version behind the gateway.

    python -m tests.integration.clients.triton_grpc_load --grpc HOST:PORT --stop-file PATH
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

IRIS_ROWS = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--model", default="iris")
    parser.add_argument("--stop-file", type=Path, required=True)
    args = parser.parse_args()
    client = grpcclient.InferenceServerClient(url=args.grpc)
    tensor = grpcclient.InferInput("input", list(IRIS_ROWS.shape), "FP32")
    tensor.set_data_from_numpy(IRIS_ROWS)
    ok, failures = 0, []
    while not args.stop_file.exists():
        try:
            result = client.infer(args.model, [tensor], client_timeout=30)
            if result.as_numpy("probabilities").shape != (1, 3):
                failures.append("an answer without probabilities [1, 3]")
            else:
                ok += 1
        except InferenceServerException as exc:
            failures.append(f"{exc.status()}: {exc.message()}")
    print(json.dumps({"ok": ok, "failures": failures[:50]}), flush=True)


if __name__ == "__main__":
    main()
