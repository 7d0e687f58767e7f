"""Data plane: the agent against MLServer 1.7.x, same TorchScript MLP, same machine.

For each server (one after the other, never both at once) x protocol (REST JSON, gRPC) x
concurrency (1, 16): warm up, then measure throughput, p50/p90/p99 latency and errors with a
C load generator (wrk for REST, h2load for gRPC), and the CPU that the load generator, the
server's front-end process and its inference workers used. Prints the table and the
agent/MLServer ratios, and writes `bench/results/dataplane.json`.

Matched settings (both servers): one inference worker process beside the front-end process
(`--parallel-workers 1` / `parallel_workers: 1`), batching as the example model's own
model-settings say (the `mlp` example has none, so off for both; if it ever gains
`max_batch_size`/`max_batch_time_ms`, MLServer gets the same values), torch intra-op threads
from `OMP_NUM_THREADS=1` for both, metrics on for both (the agent cannot turn its off;
MLServer's default Prometheus middleware and metrics server stay on), no access logs, no gzip.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import psutil
import torch
import yaml

from bench.common import (
    BENCH_DIR,
    REPO_ROOT,
    BenchError,
    CpuUsage,
    Options,
    ServerProcess,
    cpu_snapshot,
    cpu_usage,
    format_table,
    free_port,
    http_post,
    log,
    wait_for_quiet,
    write_results,
)
from bench.loadgen import LoadResult, h2load_rate, run_h2load, run_wrk, write_wrk_script
from bench.tools import ensure_debian_tools, ensure_mlserver_venv, mlserver_versions, tool_version
from loadmaster import __version__ as loadmaster_version
from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.generated.inference import grpc_service_pb2_grpc as pb_grpc

NAME = "dataplane"
MODEL = "mlp"
INPUT_NAME, OUTPUT_NAME, WIDTH_IN, WIDTH_OUT = "input", "output", 32, 8
CONCURRENCIES = (1, 16)
PROTOCOLS = ("rest", "grpc")
WORKERS = 1
TORCH_THREADS = 1
SEED = 20240601
OURS, THEIRS = "loadmaster", "mlserver"
TARGET_THROUGHPUT_RATIO = 2.0
TARGET_CONCURRENCY = 16
GRPC_PATH = "/inference.GRPCInferenceService/ModelInfer"
REST_EXPECT = '"name":"output"'
# The machine may be shared: before each run wait up to QUIET_WAIT_S for other work to drop
# below OTHER_CPU_LIMIT cores; a run during which other work used more is measured again (at
# most MAX_TRIES runs; the least disturbed one is kept and a still-disturbed one is flagged).
# All that waiting and re-measuring together is bounded by PATIENCE_S per run.
OTHER_CPU_LIMIT = 0.25
QUIET_WAIT_S = 30.0
MAX_TRIES = 3
PATIENCE_S, PATIENCE_QUICK_S = 120.0, 20.0


@dataclass(frozen=True, slots=True)
class Payloads:
    rest_body: Path
    grpc_body: Path
    grpc_request: pb.ModelInferRequest
    expected: np.ndarray
    rest_bytes: int
    grpc_bytes: int


@dataclass(frozen=True, slots=True)
class Batching:
    max_batch_size: int
    max_batch_time_ms: float

    @property
    def on(self) -> bool:
        return self.max_batch_size > 1


@dataclass(slots=True)
class Running:
    name: str
    process: ServerProcess
    http_port: int
    grpc_port: int
    ready_s: float = 0.0

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v2/models/{MODEL}/infer"

    @property
    def grpc_url(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}{GRPC_PATH}"


# ---- the model and the payloads -------------------------------------------------------------


def build_model(work: Path) -> Path:
    """Build the example models with the project's builder; keep `mlp` alone in a models dir."""
    everything = work / "built"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "models" / "build_examples.py"), "--out",
         str(everything)],
        check=True, capture_output=True, cwd=REPO_ROOT,
    )  # fmt: skip
    model_dir = work / "models" / MODEL
    shutil.copytree(everything / MODEL, model_dir)
    return model_dir


def read_batching(model_dir: Path) -> Batching:
    """The example's own batching settings (absent means off)."""
    path = model_dir / "model-settings.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    settings = raw if isinstance(raw, dict) else {}
    return Batching(
        int(settings.get("max_batch_size", 1)), float(settings.get("max_batch_time_ms", 0.0))
    )


def make_payloads(work: Path, model_dir: Path) -> Payloads:
    """One [1, 32] FP32 row as a JSON body and as a length-prefixed ModelInferRequest."""
    row = np.random.default_rng(SEED).uniform(-1.0, 1.0, (1, WIDTH_IN)).astype(np.float32)
    # The shortest text that reads back as the same float32, so both servers parse equal data.
    data = [float(str(value)) for value in row.ravel()]
    document = {
        "inputs": [{"name": INPUT_NAME, "shape": [1, WIDTH_IN], "datatype": "FP32", "data": data}]
    }
    rest_body = work / "request.json"
    rest_body.write_bytes(json.dumps(document, separators=(",", ":")).encode())
    values = np.asarray(data, dtype=np.float32).reshape(1, WIDTH_IN)

    request = pb.ModelInferRequest(model_name=MODEL)
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = INPUT_NAME, "FP32"
    tensor.shape.extend([1, WIDTH_IN])
    request.raw_input_contents.append(values.astype("<f4").tobytes())
    message = request.SerializeToString()
    grpc_body = work / "request.grpc"
    grpc_body.write_bytes(b"\x00" + struct.pack(">I", len(message)) + message)

    module = torch.jit.load(str(model_dir / "model.pt"))  # type: ignore[no-untyped-call]
    with torch.inference_mode():
        expected = module(torch.from_numpy(values.copy())).numpy()
    return Payloads(
        rest_body,
        grpc_body,
        request,
        expected,
        rest_body.stat().st_size,
        grpc_body.stat().st_size,
    )


# ---- the two servers ---------------------------------------------------------------------


def _server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["OMP_NUM_THREADS"] = str(TORCH_THREADS)
    env["MKL_NUM_THREADS"] = str(TORCH_THREADS)
    env.update(extra or {})
    return env


def start_agent(work: Path, model_dir: Path, logs: Path) -> Running:
    http_port, grpc_port = free_port(), free_port()
    console = Path(sys.executable).with_name("loadmaster")
    launcher = [str(console)] if console.exists() else [sys.executable, "-m", "loadmaster.cli.main"]
    argv = [
        *launcher, "--log-format", "json", "agent", "--name", "bench",
        "--http-port", str(http_port), "--grpc-port", str(grpc_port),
        "--models-dir", str(model_dir.parent), "--cache-dir", str(work / "agent-cache"),
        "--parallel-workers", str(WORKERS),
    ]  # fmt: skip
    process = ServerProcess(OURS, argv, logs / "loadmaster-agent.log", _server_env(), cwd=work)
    return Running(OURS, process, http_port, grpc_port)


def start_mlserver(
    work: Path, model_dir: Path, batching: Batching, python: Path, logs: Path
) -> Running:
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    root = work / "mlserver"
    (root / MODEL).mkdir(parents=True)
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "metrics_dir": str(work / "mlserver-metrics"),
        "environments_dir": str(work / "mlserver-envs"),
        "parallel_workers": WORKERS,
        "gzip_enabled": False,
        "load_models_at_startup": True,
    }
    model_settings = {
        "name": MODEL,
        "implementation": "mlserver_mlp.runtime.TorchScriptRuntime",
        "max_batch_size": batching.max_batch_size if batching.on else 0,
        "max_batch_time": batching.max_batch_time_ms / 1000 if batching.on else 0.0,
        "parameters": {"uri": str(model_dir / "model.pt")},
    }
    (root / "settings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    (root / MODEL / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    argv = [str(python.with_name("mlserver")), "start", str(root)]
    env = _server_env({"PYTHONPATH": str(BENCH_DIR)})  # where `mlserver_mlp` lives
    process = ServerProcess(THEIRS, argv, logs / "mlserver.log", env, cwd=work)
    return Running(THEIRS, process, http_port, grpc_port)


# ---- checking answers ----------------------------------------------------------------------


def preflight(server: Running, payloads: Payloads) -> int:
    """Both protocols answer the reference output; returns one gRPC answer's DATA size."""
    body = http_post(server.rest_url, payloads.rest_body.read_bytes())
    document = json.loads(body)
    output = next(o for o in document["outputs"] if o["name"] == OUTPUT_NAME)
    got = np.asarray(output["data"], dtype=np.float32).reshape(1, WIDTH_OUT)
    _compare(server.name, "REST", got, payloads.expected)

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        response = stub.ModelInfer(payloads.grpc_request, timeout=30)
    index = next(i for i, o in enumerate(response.outputs) if o.name == OUTPUT_NAME)
    if response.raw_output_contents:
        raw = response.raw_output_contents[index]
        got = np.frombuffer(raw, dtype="<f4").reshape(1, WIDTH_OUT)
    else:
        contents = response.outputs[index].contents.fp32_contents
        got = np.asarray(contents, dtype=np.float32).reshape(1, WIDTH_OUT)
    _compare(server.name, "gRPC", got, payloads.expected)
    return 5 + len(response.SerializeToString())


def _compare(server: str, protocol: str, got: np.ndarray, expected: np.ndarray) -> None:
    if not np.allclose(got, expected, rtol=1e-5, atol=1e-6):
        raise BenchError(f"{server} {protocol} answered {got.tolist()}, not {expected.tolist()}")


# ---- measuring ------------------------------------------------------------------------------


@dataclass(slots=True)
class Session:
    """What every cell of one run shares."""

    options: Options
    tools: dict[str, str]
    payloads: Payloads
    work: Path
    wrk_script: Path
    patience_until: float  # monotonic; no waiting for quiet or re-measuring after it

    def patience_left(self) -> float:
        return max(0.0, self.patience_until - time.monotonic())


def _load_runner(
    session: Session, server: Running, protocol: str, concurrency: int, response_bytes: int
) -> Callable[[], LoadResult]:
    """Warm this cell up, and return the measured run to repeat if it is disturbed."""
    tools, options, payloads = session.tools, session.options, session.payloads
    if protocol == "rest":
        run_wrk(tools["wrk"], server.rest_url, session.wrk_script, concurrency, options.warmup_s)

        def rest() -> LoadResult:
            return run_wrk(
                tools["wrk"], server.rest_url, session.wrk_script, concurrency, options.duration_s
            )

        return rest
    # The warm-up's rate sizes the measured run: h2load goes by request count (see loadgen).
    rate = h2load_rate(
        tools["h2load"], server.grpc_url, payloads.grpc_body, concurrency, options.warmup_s
    )
    requests = max(200, int(rate * options.duration_s))

    def grpc_run() -> LoadResult:
        return run_h2load(
            tools["h2load"], server.grpc_url, payloads.grpc_body, concurrency, requests,
            response_bytes, session.work / "h2load.log",
        )  # fmt: skip

    return grpc_run


def measure_cell(
    session: Session, server: Running, protocol: str, concurrency: int, response_bytes: int
) -> dict[str, object]:
    run = _load_runner(session, server, protocol, concurrency, response_bytes)
    attempts: list[tuple[LoadResult, CpuUsage, float, float]] = []
    while True:
        quiet = wait_for_quiet(OTHER_CPU_LIMIT, min(QUIET_WAIT_S, session.patience_left()))
        before = cpu_snapshot(server.process.pid)
        result = run()
        after = cpu_snapshot(server.process.pid)
        if not server.process.alive():
            raise BenchError(f"{server.name} died during {protocol} c={concurrency}")
        usage = cpu_usage(server.process.pid, before, after)
        other = max(0.0, usage.machine - usage.server - result.client_cpu_cores)
        attempts.append((result, usage, other, quiet))
        retry = len(attempts) < MAX_TRIES and session.patience_left() > result.duration_s
        if other <= OTHER_CPU_LIMIT or not retry:
            break
        log(
            f"{server.name} {protocol} c={concurrency}: other work used {other:.2f} cores "
            "during the run; measuring again"
        )
    result, usage, other, quiet = min(attempts, key=lambda attempt: attempt[2])
    cell: dict[str, object] = {"server": server.name, "protocol": protocol}
    cell.update(result.as_json())
    cell["cpu"] = usage.as_json() | {
        "loadgen_cores": round(result.client_cpu_cores, 3),
        "other_cores": round(other, 3),
        "other_before_run_cores": round(quiet, 3),
    }
    cell["disturbed"] = other > OTHER_CPU_LIMIT
    cell["attempts"] = [
        {
            "throughput_rps": round(a.throughput_rps, 1),
            "p99_ms": a.p99_ms,
            "other_cores": round(o, 3),
        }
        for a, _, o, _ in attempts
    ]
    log(
        f"{server.name:10} {protocol:4} c={concurrency:<2} {result.throughput_rps:8.0f} req/s  "
        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  errors {result.errors}  "
        f"(server {usage.server:.2f} cores, {result.tool} {result.client_cpu_cores:.2f}, "
        f"other {other:.2f})"
    )
    return cell


def bench_server(session: Session, server: Running) -> list[dict[str, object]]:
    try:
        server.ready_s = server.process.wait_ready(
            f"http://127.0.0.1:{server.http_port}/v2/models/{MODEL}/ready"
        )
        log(f"{server.name} ready after {server.ready_s:.1f}s (pid {server.process.pid})")
        response_bytes = preflight(server, session.payloads)
        cells = []
        for protocol in PROTOCOLS:
            for concurrency in CONCURRENCIES:
                cells.append(measure_cell(session, server, protocol, concurrency, response_bytes))
                time.sleep(0.5)
        return cells
    finally:
        server.process.stop()


# ---- reporting ------------------------------------------------------------------------------


def _cell(cells: list[dict[str, object]], server: str, protocol: str, c: int) -> dict[str, object]:
    for cell in cells:
        if (cell["server"], cell["protocol"], cell["concurrency"]) == (server, protocol, c):
            return cell
    raise KeyError((server, protocol, c))


def _num(cell: dict[str, object], key: str) -> float:
    value = cell[key]
    assert isinstance(value, int | float)
    return float(value)


def ratios(cells: list[dict[str, object]]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for protocol in PROTOCOLS:
        for c in CONCURRENCIES:
            ours, theirs = _cell(cells, OURS, protocol, c), _cell(cells, THEIRS, protocol, c)
            ours_rps, theirs_rps = _num(ours, "throughput_rps"), _num(theirs, "throughput_rps")
            ours_p99, theirs_p99 = _num(ours, "p99_ms"), _num(theirs, "p99_ms")
            rows.append(
                {
                    "protocol": protocol,
                    "concurrency": c,
                    "throughput_ratio": round(ours_rps / theirs_rps, 2) if theirs_rps else None,
                    "p99_ratio": round(ours_p99 / theirs_p99, 2) if theirs_p99 else None,
                    "p50_ratio": round(_num(ours, "p50_ms") / _num(theirs, "p50_ms"), 2)
                    if _num(theirs, "p50_ms")
                    else None,
                    "p99_lower": ours_p99 < theirs_p99,
                }
            )
    return rows


def target_verdicts(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    verdicts = []
    for row in rows:
        if row["concurrency"] != TARGET_CONCURRENCY:
            continue
        ratio = row["throughput_ratio"]
        met = isinstance(ratio, float) and ratio >= TARGET_THROUGHPUT_RATIO and row["p99_lower"]
        verdicts.append({"protocol": row["protocol"], "met": bool(met)})
    return verdicts


def print_report(cells: list[dict[str, object]], rows: list[dict[str, object]]) -> None:
    headers = [
        "server", "protocol", "conc", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors",
        "loadgen CPU", "server front", "server workers", "machine busy", "other",
    ]  # fmt: skip
    table = []
    for cell in cells:
        cpu = cell["cpu"]
        assert isinstance(cpu, dict)
        table.append(
            [
                str(cell["server"]),
                "REST" if cell["protocol"] == "rest" else "gRPC",
                str(cell["concurrency"]),
                f"{_num(cell, 'throughput_rps'):.0f}",
                f"{_num(cell, 'p50_ms'):.2f}",
                f"{_num(cell, 'p90_ms'):.2f}",
                f"{_num(cell, 'p99_ms'):.2f}",
                str(cell["errors"]),
                f"{cpu['loadgen_cores']:.2f}",
                f"{cpu['server_frontend_cores']:.2f}",
                f"{cpu['server_workers_cores']:.2f}",
                f"{cpu['machine_busy_cores']:.2f}",
                f"{cpu['other_cores']:.2f}" + ("*" if cell["disturbed"] else ""),
            ]
        )
    print()
    print("Data plane, mlp [1,32] FP32, one row per request (CPU columns in cores, of 2)")
    print(format_table(headers, table))
    loadgen = max(_num(c, "client_cpu_cores") for c in cells)
    print(
        f"The load generator shares the 2 cores with the server; it used at most {loadgen:.2f} "
        "cores. 'other' is CPU used by anything else on the machine during the run."
    )
    if any(cell["disturbed"] for cell in cells):
        print(
            f"* other work on the machine used more than {OTHER_CPU_LIMIT} cores during this "
            "run even after waiting and re-measuring: treat that row with caution, rerun later."
        )
    print()
    ratio_rows = []
    for row in rows:
        ours = _cell(cells, OURS, str(row["protocol"]), int(str(row["concurrency"])))
        theirs = _cell(cells, THEIRS, str(row["protocol"]), int(str(row["concurrency"])))
        ratio_rows.append(
            [
                "REST" if row["protocol"] == "rest" else "gRPC",
                str(row["concurrency"]),
                f"{_num(ours, 'throughput_rps'):.0f}",
                f"{_num(theirs, 'throughput_rps'):.0f}",
                f"{row['throughput_ratio']}x",
                f"{_num(ours, 'p99_ms'):.2f}",
                f"{_num(theirs, 'p99_ms'):.2f}",
                f"{row['p99_ratio']}x",
            ]
        )
    print("Ratios, loadmaster / mlserver (throughput: higher is better; p99: lower is better)")
    print(
        format_table(
            [
                "protocol",
                "conc",
                "ours req/s",
                "mlserver req/s",
                "throughput",
                "ours p99",
                "mlserver p99",
                "p99",
            ],
            ratio_rows,
        )
    )
    print()
    for verdict in target_verdicts(rows):
        row = next(
            r for r in rows
            if r["protocol"] == verdict["protocol"] and r["concurrency"] == TARGET_CONCURRENCY
        )  # fmt: skip
        state = "met" if verdict["met"] else "NOT met"
        print(
            f"Target at c={TARGET_CONCURRENCY}, {verdict['protocol']}: >= "
            f"{TARGET_THROUGHPUT_RATIO}x throughput with a lower p99 -> {state} "
            f"({row['throughput_ratio']}x, p99 {row['p99_ratio']}x)"
        )


def machine_info() -> dict[str, object]:
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    debian = Path("/etc/debian_version")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "debian": debian.read_text().strip() if debian.exists() else "",
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
    }


# ---- entry point ----------------------------------------------------------------------------


def run(options: Options) -> Path:
    tools = ensure_debian_tools()
    mlserver_python = ensure_mlserver_venv()
    started = dt.datetime.now(dt.UTC)
    logs = options.results_dir / "logs"
    machine = machine_info()
    log(
        f"{machine['cpus']} CPUs ({machine['cpu_model']}), load average "
        f"{machine['loadavg_at_start']}; {options.duration_s:g}s per cell after "
        f"{options.warmup_s:g}s warm-up"
    )
    with tempfile.TemporaryDirectory(prefix="loadmaster-bench-") as tmp:
        work = Path(tmp)
        model_dir = build_model(work)
        batching = read_batching(model_dir)
        payloads = make_payloads(work, model_dir)
        script = write_wrk_script(
            work / "wrk.lua", payloads.rest_body, "application/json", REST_EXPECT
        )
        patience = PATIENCE_QUICK_S if options.quick else PATIENCE_S
        session = Session(options, tools, payloads, work, script, time.monotonic() + patience)
        cells: list[dict[str, object]] = []
        ready: dict[str, float] = {}
        starters: list[Callable[[], Running]] = [
            lambda: start_agent(work, model_dir, logs),
            lambda: start_mlserver(work, model_dir, batching, mlserver_python, logs),
        ]
        for start in starters:  # one after the other, never both at once
            server = start()
            cells += bench_server(session, server)
            ready[server.name] = round(server.ready_s, 2)
    rows = ratios(cells)
    print_report(cells, rows)
    document: dict[str, object] = {
        "benchmark": NAME,
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "model": f"{MODEL} (TorchScript MLP 32-64-64-8, examples/models/build_examples.py)",
            "request": f"one [1,{WIDTH_IN}] FP32 row; REST JSON body of {payloads.rest_bytes} "
            f"bytes; gRPC ModelInferRequest with raw_input_contents, {payloads.grpc_bytes} "
            "bytes framed",
            "workers": WORKERS,
            "torch_threads": TORCH_THREADS,
            "batching": "adaptive, max_batch_size "
            f"{batching.max_batch_size}, max_batch_time {batching.max_batch_time_ms} ms"
            if batching.on
            else "off for both (the mlp example has no batching settings)",
            "metrics": "on for both",
            "duration_s": options.duration_s,
            "warmup_s": options.warmup_s,
            "rest_loadgen": "wrk -t1 -cC (C connections, one request in flight each)",
            "grpc_loadgen": "h2load -t1 -c1 -mC (one HTTP/2 connection, C streams in flight)",
            "server_ready_s": ready,
        },
        "versions": {
            "loadmaster": loadmaster_version,
            "loadmaster_venv": {
                name: importlib.metadata.version(name)
                for name in ("aiohttp", "grpcio", "uvloop", "torch", "numpy", "protobuf", "orjson")
            },
            "mlserver_venv": mlserver_versions(mlserver_python),
            "wrk": tool_version([tools["wrk"], "-v"]),
            "h2load": tool_version([tools["h2load"], "--version"]),
        },
        "cells": cells,
        "ratios": rows,
        "target": {
            "concurrency": TARGET_CONCURRENCY,
            "throughput_ratio_at_least": TARGET_THROUGHPUT_RATIO,
            "p99": "lower than MLServer's",
            "verdicts": target_verdicts(rows),
        },
    }
    path = write_results(options.results_dir / f"{NAME}.json", document)
    log(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return path
