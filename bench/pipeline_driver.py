"""The pipeline benchmark's load driver: one closed-loop client for both sides of a cell.

Run as its own process (`python bench/pipeline_driver.py ...`), so it shares no event loop
with anything it measures and its CPU time comes from its own rusage. `concurrency` tasks on
uvloop each keep one request in flight on the gateway's own pooled HTTP/1.1 client (cheaper per
request than aiohttp's, so the driver takes less of a small machine from the cluster):

* `pipeline`: one `POST /v2/pipelines/{p}/infer` per request; the N steps run over Kafka.
* `direct`: the same N model calls without Kafka, made by the client: N sequential
  `POST /v2/models/{m}/infer` through the gateway, each answer's output sent as the next input.

Every answer is checked: status 200, and the last output equals the input (the model is the
identity), in JSON or in the binary tensor extension. A request that fails any check is an
error, counted by kind with a few examples. After `warmup` seconds the driver prints
WINDOW_OPEN, measures the successes that finish within the next `duration` seconds (and every
failure from then on, including the in-flight requests it waits for afterwards), prints
WINDOW_CLOSE, and ends with one `DRIVER_RESULT {json}` line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from gateway.http1_pool import Http1Pool

JSON_HEADERS = {"Content-Type": "application/json"}
HEADER_LENGTH = "inference-header-content-length"
REQUEST_TIMEOUT_S = 35.0  # past the gateway's own 30 s pipeline deadline
DRAIN_TIMEOUT_S = 40.0
SAMPLES = 5


class CheckFailed(Exception):
    """The answer arrived but is not the one expected; `kind` is how errors are counted."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def output_values(status: int, headers: dict[str, str], body: bytes) -> tuple[list[int], bytes]:
    """(shape, float32 bytes) of the answer's first output; JSON or binary extension."""
    if status != 200:
        raise CheckFailed(f"http {status}", body[:200].decode("utf-8", "replace"))
    length_text = next((v for k, v in headers.items() if k.lower() == HEADER_LENGTH), None)
    if length_text is None:
        document = orjson.loads(body)
        output = document["outputs"][0]
        return list(output["shape"]), np.asarray(output["data"], dtype=np.float32).tobytes()
    length = int(length_text)
    document = orjson.loads(body[:length])
    output = document["outputs"][0]
    size = int(output.get("parameters", {}).get("binary_data_size", -1))
    if size < 0:
        return list(output["shape"]), np.asarray(output["data"], dtype=np.float32).tobytes()
    return list(output["shape"]), body[length : length + size]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def request_body(shape: list[int], values: bytes) -> bytes:
    data = np.frombuffer(values, dtype=np.float32).tolist()
    document = {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data}]}
    return orjson.dumps(document)


class Driver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.body = Path(args.body).read_bytes()
        first = orjson.loads(self.body)["inputs"][0]
        self.expected = np.asarray(first["data"], dtype=np.float32).tobytes()
        self.pool = Http1Pool(per_address=args.concurrency)
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []
        self.window = (math.inf, math.inf)
        self.stop_at = math.inf

    async def one_pipeline(self) -> None:
        path = f"/v2/pipelines/{self.args.pipeline}/infer"
        answer = await self.pool.request(self.args.address, "POST", path, JSON_HEADERS, self.body)
        _, values = output_values(answer.status, dict(answer.headers), answer.body)
        if values != self.expected:
            raise CheckFailed("wrong output", "the pipeline's output differs from its input")

    async def one_direct(self) -> None:
        path = f"/v2/models/{self.args.model}/infer"
        body = self.body
        for step in range(self.args.steps):
            answer = await self.pool.request(self.args.address, "POST", path, JSON_HEADERS, body)
            shape, values = output_values(answer.status, dict(answer.headers), answer.body)
            if step + 1 < self.args.steps:
                body = request_body(shape, values)
        if values != self.expected:
            raise CheckFailed("wrong output", "the last call's output differs from the first input")

    async def loop(self) -> None:
        one = self.one_pipeline if self.args.mode == "pipeline" else self.one_direct
        clock = time.perf_counter
        while clock() < self.stop_at:
            started = clock()
            error: str | None = None
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    await one()
            except CheckFailed as exc:
                error, detail = exc.kind, str(exc)
            except TimeoutError:
                error, detail = "timeout", f"no answer within {REQUEST_TIMEOUT_S:g}s"
            except Exception as exc:  # transport failures: count them, keep going
                error, detail = type(exc).__name__, str(exc)
            finished = clock()
            start_w, end_w = self.window
            if error is None:
                if start_w <= finished <= end_w:
                    self.latencies.append(finished - started)
            elif finished >= start_w:  # failures after the window count too: none hides
                self.errors[error] += 1
                if len(self.samples) < SAMPLES:
                    self.samples.append(f"{error}: {detail}"[:300])

    async def run(self) -> dict[str, object]:
        """Warm up, open the window, measure, close it; each edge is announced on stdout
        (WINDOW_OPEN / WINDOW_CLOSE) so the caller can take CPU snapshots of the cluster."""
        tasks = [asyncio.create_task(self.loop()) for _ in range(self.args.concurrency)]
        await asyncio.sleep(self.args.warmup)
        print("WINDOW_OPEN", flush=True)
        cpu_before, opened = _cpu_s(), time.perf_counter()
        self.window = (opened, opened + self.args.duration)
        self.stop_at = self.window[1]
        await asyncio.sleep(self.args.duration)
        cpu_s, elapsed = _cpu_s() - cpu_before, time.perf_counter() - opened
        print("WINDOW_CLOSE", flush=True)
        _, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S)
        for task in pending:
            task.cancel()
        self.pool.close()
        result = self.result(hung=len(pending))
        result["driver_cpu_cores"] = round(cpu_s / elapsed, 3) if elapsed > 0 else 0.0
        return result

    def result(self, hung: int) -> dict[str, object]:
        values = sorted(self.latencies)
        ok, errors = len(values), sum(self.errors.values())

        def pct(p: float) -> float:
            if not values:
                return 0.0
            return round(values[min(len(values), max(1, math.ceil(p / 100 * len(values)))) - 1]
                         * 1000, 3)  # fmt: skip

        return {
            "mode": self.args.mode,
            "steps": self.args.steps,
            "concurrency": self.args.concurrency,
            "ok": ok,
            "errors": errors,
            "error_kinds": dict(self.errors),
            "error_samples": self.samples,
            "hung_tasks": hung,
            "duration_s": self.args.duration,
            "throughput_rps": round(ok / self.args.duration, 1),
            "http_calls_per_request": 1 if self.args.mode == "pipeline" else self.args.steps,
            "p50_ms": pct(50),
            "p90_ms": pct(90),
            "p99_ms": pct(99),
            "max_ms": round(values[-1] * 1000, 3) if values else 0.0,
            "mean_ms": round(sum(values) / ok * 1000, 3) if ok else 0.0,
        }


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--address", required=True, help="the gateway's REST HOST:PORT")
    p.add_argument("--mode", choices=("pipeline", "direct"), required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--pipeline", default="", help="pipeline mode: its name")
    p.add_argument("--model", default="identity", help="direct mode: the model to call")
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--warmup", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--body", required=True, help="file with the JSON request body")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run  # type: ignore[assignment]
    result = runner(Driver(args).run())
    print("DRIVER_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
