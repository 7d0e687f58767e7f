"""Gateway overhead: the same request sent to the agent directly and through the gateway.

A scheduler (memory store), one agent and one gateway run as real processes on loopback; the
`mlp` example model (the data-plane benchmark's) is loaded with one replica through the CLI.
Then, with one request body, each route (direct to the agent's REST port, and through the
gateway's) is warmed up and measured with wrk, a C load generator in its own process, so the
client shares no event loop with anything it measures. Direct and gateway run back to back:

* shared layout, concurrency 1 and 32: every process may run on every CPU, so on a small host
  the gateway's CPU is taken from the agent's (the stricter case);
* pinned layout, concurrency 32: the agent on half the CPUs, the gateway, scheduler and wrk on
  the other half, as when the gateway has CPU of its own.

Prints what the gateway adds (p50/p99 ms) and keeps (throughput ratio) against the issue's
targets, and writes `bench/results/gateway.json`. It never asserts on timings.

The routes are (hop, protocol) pairs with one load driver per protocol; a gRPC row (h2load
against the agent's and the gateway's `--grpc-port`) plugs in as a `Protocol.GRPC` member, a
driver and two routes, with no change to the measuring or the report.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from bench.cluster import LocalCluster
from bench.common import REPO_ROOT, BenchError, Options, log, write_results
from bench.gateway_cells import (
    Hop,
    Layout,
    Protocol,
    Route,
    Session,
    cpu_halves,
    measure_cell,
    placed,
)
from bench.gateway_report import comparisons, print_report, target_verdicts
from bench.loadgen import LoadResult, run_wrk, write_wrk_script
from bench.tools import ensure_debian_tools, tool_version
from loadmaster import __version__ as loadmaster_version

NAME = "gateway"
MODEL = "mlp"
# (layout, concurrency) in the order measured; each measures every route, direct first.
PLAN = ((Layout.SHARED, 1), (Layout.SHARED, 32), (Layout.PINNED, 32))
SEED, WIDTH_IN = 20240601, 32  # the data-plane benchmark's request: one seeded [1,32] row
REST_EXPECT = '"name":"output"'
PATIENCE_S, PATIENCE_QUICK_S = 30.0, 10.0  # for waiting on a busy machine, whole run


def request_body() -> bytes:
    """The data-plane benchmark's REST body: the shortest text of each float32 value."""
    row = np.random.default_rng(SEED).uniform(-1.0, 1.0, (1, WIDTH_IN)).astype(np.float32)
    data = [float(str(value)) for value in row.ravel()]
    document = {
        "inputs": [{"name": "input", "shape": [1, WIDTH_IN], "datatype": "FP32", "data": data}]
    }
    return json.dumps(document, separators=(",", ":")).encode()


def build_model(work: Path) -> Path:
    """Build the example models with the project's builder and return the `mlp` directory."""
    builder = REPO_ROOT / "examples" / "models" / "build_examples.py"
    argv = [sys.executable, str(builder), "--out", str(work / "models")]
    built = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT)
    if built.returncode != 0:
        raise BenchError(f"building the example models failed:\n{built.stdout}{built.stderr}")
    return work / "models" / MODEL


def routes(cluster: LocalCluster) -> list[Route]:
    path = f"/v2/models/{MODEL}/infer"
    return [
        Route(Hop.DIRECT, Protocol.REST, cluster.agent_url(path)),
        Route(Hop.GATEWAY, Protocol.REST, cluster.gateway_url(path)),
    ]


def read_json(data: bytes) -> dict[str, object]:
    parsed = json.loads(data)
    if not isinstance(parsed, dict):
        raise BenchError(f"expected a JSON object, got {data[:200]!r}")
    return parsed


def preflight(cluster: LocalCluster, body: bytes, all_routes: list[Route]) -> None:
    """Every route answers, and with the same outputs (the gateway passes bytes through)."""
    outputs = {}
    for route in all_routes:
        answer = cluster.wait_routed(route.url, body)
        if REST_EXPECT.encode() not in answer:
            raise BenchError(f"{route.hop} answered without {REST_EXPECT}: {answer[:300]!r}")
        outputs[route.hop] = read_json(answer)["outputs"]
    if len({json.dumps(o, sort_keys=True) for o in outputs.values()}) != 1:
        raise BenchError(f"the routes answered differently: {outputs}")


def machine_info() -> dict[str, object]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        ),
        "",
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def run(options: Options) -> Path:
    tools = ensure_debian_tools({"wrk": "wrk"})
    started = dt.datetime.now(dt.UTC)
    machine = machine_info()
    log(
        f"{machine['cpus']} CPUs ({machine['cpu_model']}), load average "
        f"{machine['loadavg_at_start']}; {options.duration_s:g}s per cell after "
        f"{options.warmup_s:g}s warm-up"
    )
    body = request_body()
    with tempfile.TemporaryDirectory(prefix="loadmaster-bench-gateway-") as tmp:
        work = Path(tmp)
        (work / "request.json").write_bytes(body)
        script = write_wrk_script(
            work / "wrk.lua", work / "request.json", "application/json", REST_EXPECT
        )
        model_dir = build_model(work)
        cluster = LocalCluster(work, options.results_dir / "logs" / NAME)
        try:
            cluster.start()
            load_s = cluster.load(MODEL, model_dir)
            all_routes = routes(cluster)
            preflight(cluster, body, all_routes)
            log(f"{cluster.describe()}; {MODEL} Available after {load_s:.1f}s")

            def rest(route: Route, concurrency: int, seconds: float) -> LoadResult:
                return run_wrk(tools["wrk"], route.url, script, concurrency, seconds)

            patience = PATIENCE_QUICK_S if options.quick else PATIENCE_S
            session = Session(options, cluster, {Protocol.REST: rest}, time.monotonic() + patience)
            cells = []
            for layout, concurrency in PLAN:
                if layout is Layout.PINNED and cpu_halves() is None:
                    log("one CPU: no pinned layout")
                    continue
                with placed(cluster, layout):
                    cells += [measure_cell(session, layout, r, concurrency) for r in all_routes]
        finally:
            cluster.stop()
    rows = comparisons(cells)
    verdicts = target_verdicts(rows)
    print_report(cells, rows, verdicts, machine)
    document: dict[str, object] = {
        "benchmark": NAME,
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "model": f"{MODEL} (TorchScript MLP 32-64-64-8), 1 replica, agent with 1 worker, "
            "OMP_NUM_THREADS=1, no batching",
            "cluster": "scheduler --store memory://, 1 agent, 1 gateway; separate processes "
            "on 127.0.0.1 sharing the machine with the load generator",
            "request": f"one [1,{WIDTH_IN}] FP32 row, REST JSON body of {len(body)} bytes",
            "loadgen": "wrk -t1 -cC (C keep-alive connections, one request in flight each)",
            "layouts": {
                "shared": "no CPU affinity set",
                "pinned": "agent front end and workers on CPUs "
                f"{sorted(halves[0])}; gateway, scheduler and wrk on {sorted(halves[1])}"
                if (halves := cpu_halves())
                else "not measured (one CPU)",
            },
            "duration_s": options.duration_s,
            "warmup_s": options.warmup_s,
            "model_available_after_s": round(load_s, 2),
        },
        "versions": {
            "loadmaster": loadmaster_version,
            **{
                name: importlib.metadata.version(name)
                for name in ("aiohttp", "uvloop", "yarl", "prometheus-client")
            },
            "wrk": tool_version([tools["wrk"], "-v"]),
        },
        "cells": cells,
        "comparisons": rows,
        "targets": verdicts,
    }
    path = write_results(options.results_dir / f"{NAME}.json", document)
    log(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return path
