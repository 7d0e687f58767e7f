"""Worker processes: a dead worker fails its in-flight request clearly and comes back."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import http_json, start_agent

pytestmark = pytest.mark.integration


def test_a_killed_worker_fails_its_request_then_restarts_and_serves(
    models_dir: Path, tmp_path: Path
) -> None:
    agent = start_agent(tmp_path, models_dir, workers=1)
    try:
        [worker] = agent.worker_pids()
        slow = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [5.0]}]}
        result: dict[str, Any] = {}

        def call() -> None:
            result["answer"] = http_json(
                "POST", agent.url("/v2/models/sleepy/infer"), json.dumps(slow).encode()
            )

        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(1.0)  # the request is now inside the worker's 5 s sleep
        os.kill(worker, signal.SIGKILL)
        thread.join(timeout=30)
        status, body = result["answer"]
        assert status == 503
        assert "exited" in body["error"]

        fast = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [0.0]}]}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, body = http_json(
                "POST", agent.url("/v2/models/sleepy/infer"), json.dumps(fast).encode()
            )
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, body
        assert body["outputs"][0]["data"] == [0.0]
        assert agent.worker_pids() != [worker]
    finally:
        agent.stop()


def test_concurrent_requests_go_to_different_workers(models_dir: Path, tmp_path: Path) -> None:
    agent = start_agent(tmp_path, models_dir, workers=2)
    try:
        workers = agent.worker_pids()
        assert len(workers) == 2
        payload = json.dumps(
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
        ).encode()
        results: list[tuple[int, Any]] = []

        def call() -> None:
            results.append(http_json("POST", agent.url("/v2/models/sleepy/infer"), payload))

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r[0] for r in results] == [200, 200]
        pids = {r[1]["outputs"][1]["data"][0] for r in results}
        # The least busy worker takes the second request: each worker holds its own copy.
        assert pids == set(workers)
    finally:
        agent.stop()
