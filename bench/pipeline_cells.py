"""Measuring one cell of the pipeline benchmark: run the load driver, sample the cluster's CPU.

The driver (`bench/pipeline_driver.py`) runs in its own process and announces the edges of its
measured window on stdout; the cluster's CPU is sampled at exactly those edges, so warm-up and
start-up never count. A cell disturbed by other work on the machine is measured once more in a
full run, and the less disturbed try is kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import BENCH_DIR, BenchError, Options, log
from bench.pipeline_cluster import PipelineBenchCluster

MODEL = "identity"
DISTURBED_CORES = 0.25
DRIVER = BENCH_DIR / "pipeline_driver.py"


@dataclass(frozen=True, slots=True)
class Session:
    options: Options
    cluster: PipelineBenchCluster
    body_path: Path
    patience_until: float


def drive(session: Session, side: str, steps: int, concurrency: int) -> dict[str, object]:
    """One run of the driver; the cluster's CPU is sampled at the window's edges."""
    options, cluster = session.options, session.cluster
    argv = [
        sys.executable, str(DRIVER), "--address", f"127.0.0.1:{cluster.ports.gateway_http}",
        "--mode", side, "--steps", str(steps), "--pipeline", f"p{steps}", "--model", MODEL,
        "--concurrency", str(concurrency), "--warmup", f"{options.warmup_s:g}",
        "--duration", f"{options.duration_s:g}", "--body", str(session.body_path),
    ]  # fmt: skip
    limit = options.warmup_s + options.duration_s + 120
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
        timer = threading.Timer(limit, process.kill)
        timer.start()
        before = after = None
        result: dict[str, object] | None = None
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("WINDOW_OPEN"):
                    before = cluster.cpu()
                elif line.startswith("WINDOW_CLOSE"):
                    after = cluster.cpu()
                elif line.startswith("DRIVER_RESULT "):
                    result = json.loads(line.split(" ", 1)[1])
            process.wait()
        finally:
            timer.cancel()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if result is None or before is None or after is None:
        raise BenchError(f"the load driver failed ({process.returncode}):\n{stderr[-3000:]}")
    cores = cluster.part_cores(before, after)
    driver = float(str(result["driver_cpu_cores"]))
    accounted = sum(v for k, v in cores.items() if k != "machine") + driver
    cores["driver"] = driver
    cores["other"] = round(max(0.0, cores["machine"] - accounted), 3)
    return {"side": side, "steps": steps, **result, "cpu": cores}


def measure_cell(session: Session, side: str, steps: int, concurrency: int) -> dict[str, object]:
    """Measure once; once more if other work disturbed it and patience is left (full runs)."""
    tries = 1 if session.options.quick else 2
    best: dict[str, object] | None = None
    for attempt in range(1, tries + 1):
        idle = wait_for_others(session)
        session.cluster.check_alive(f"{side} N={steps} c={concurrency}")
        cell = drive(session, side, steps, concurrency)
        cell["idle_cpu_before"] = idle
        cell["disturbed"] = _other(cell) > DISTURBED_CORES
        cell["tries"] = attempt
        if best is None or _other(cell) < _other(best):
            best = cell
        if not best["disturbed"] or time.monotonic() >= session.patience_until:
            break
    assert best is not None
    log(
        f"N={steps} c={concurrency} {side}: {best['throughput_rps']} req/s, p50 "
        f"{best['p50_ms']} ms, p99 {best['p99_ms']} ms, errors {best['errors']}"
    )
    return best


def wait_for_others(session: Session, window_s: float = 1.0) -> dict[str, float]:
    """Wait (within the session's patience) until work outside the cluster uses less than
    `DISTURBED_CORES`; returns the last reading: each part's cores while idle, and `other`.
    Unlike `common.wait_for_quiet` this leaves out the idle cluster's own CPU (its Kafka
    consumers poll the broker even when no request flows), and it reports that CPU.
    """
    cluster = session.cluster
    while True:
        before = cluster.cpu()
        time.sleep(window_s)
        cores = cluster.part_cores(before, cluster.cpu())
        others = cores["machine"] - sum(v for k, v in cores.items() if k != "machine")
        cores["other"] = round(max(0.0, others), 3)
        if others < DISTURBED_CORES or time.monotonic() >= session.patience_until:
            return cores


def _other(cell: dict[str, object]) -> float:
    cpu = cell["cpu"]
    return float(cpu["other"]) if isinstance(cpu, dict) else 0.0
