"""Closed-loop load generators: `wrk` for REST (HTTP/1.1), `h2load` for gRPC (HTTP/2).

Both are C programs driven from here, so the Python orchestrator never sits on the request
path. Each run reports completed requests, *verified* successes, errors, throughput, latency
percentiles and the load generator's own CPU time (from its rusage), so that a reader can see
it was not the bottleneck.

How success is verified:

* REST (wrk): a Lua `response()` hook counts every answer whose status is not 200 or whose body
  lacks the expected output (e.g. `"name":"output"`); socket errors and timeouts come from
  wrk's own counters. Latency percentiles come from wrk's histogram.
* gRPC (h2load): a gRPC failure still arrives as HTTP 200, with the status only in the
  trailers, which h2load does not read. But a failed unary call is trailers-only (no DATA
  frame), while every success carries the same response message, so the run goes by request
  count (`-n`) and the DATA bytes h2load received must equal successes x the size of one
  length-prefixed response (measured beforehand with a real gRPC client). Latency percentiles
  come from h2load's per-request log.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import BenchError, run_measured

GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")

_WRK_SCRIPT = """
local body_file = assert(io.open(%(body)s, "rb"))
wrk.method = "POST"
wrk.body = body_file:read("*a")
body_file:close()
wrk.headers["Content-Type"] = %(content_type)s
local expect = %(expect)s
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local rejected = 0
  for _, thread in ipairs(threads) do
    rejected = rejected + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%%d,"duration_us":%%d,"bad":%%d,"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, rejected, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One measured run of a load generator against one endpoint."""

    tool: str
    concurrency: int
    completed: int
    ok: int
    errors: int
    duration_s: float
    throughput_rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_s: float
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def client_cpu_cores(self) -> float:
        return self.client_cpu_s / self.duration_s if self.duration_s > 0 else 0.0

    def as_json(self) -> dict[str, object]:
        document = asdict(self)
        document["client_cpu_cores"] = round(self.client_cpu_cores, 3)
        for key in ("duration_s", "throughput_rps", "client_cpu_s"):
            document[key] = round(float(document[key]), 3)
        for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
            document[key] = round(float(document[key]), 3)
        return document


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII


def write_wrk_script(path: Path, body_path: Path, content_type: str, expect: str) -> Path:
    """A wrk script that POSTs the body in `body_path` and checks each answer for `expect`."""
    script = _WRK_SCRIPT % {
        "body": _lua_string(str(body_path)),
        "content_type": _lua_string(content_type),
        "expect": _lua_string(expect),
    }
    path.write_text(script, encoding="utf-8")
    return path


def run_wrk(wrk: str, url: str, script: Path, concurrency: int, duration_s: float) -> LoadResult:
    """`concurrency` connections on one wrk thread, each with one request in flight."""
    seconds = max(1, math.ceil(duration_s))
    argv = [wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s"]
    measured = run_measured([*argv, "-s", str(script), url], timeout_s=seconds + 60)
    match = re.search(r"^WRK_RESULT (\{.*\})$", measured.stdout, re.MULTILINE)
    if measured.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({measured.returncode}):\n{measured.stdout}{measured.stderr}")
    raw = json.loads(match.group(1))
    duration = raw["duration_us"] / 1e6
    transport = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    ok = max(0, raw["requests"] - raw["bad"])
    return LoadResult(
        tool="wrk",
        concurrency=concurrency,
        completed=raw["requests"],
        ok=ok,
        errors=raw["bad"] + transport,
        duration_s=duration,
        throughput_rps=ok / duration if duration > 0 else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        client_cpu_s=measured.cpu_s,
        detail={k: raw[k] for k in ("bad", "connect", "read", "write", "status", "timeout")},
    )


def _h2load_argv(
    h2load: str, body_path: Path, concurrency: int, headers: Sequence[str]
) -> list[str]:
    argv = [h2load, "-t1", "-c1", f"-m{concurrency}", "-d", str(body_path)]
    for header in headers:
        argv += ["-H", header]
    return argv


def h2load_rate(
    h2load: str,
    url: str,
    body_path: Path,
    concurrency: int,
    duration_s: float,
    headers: Sequence[str] = GRPC_HEADERS,
) -> float:
    """Requests per second over a timed run (a warm-up, which also sizes the measured run)."""
    seconds = max(1, math.ceil(duration_s))
    argv = _h2load_argv(h2load, body_path, concurrency, headers)
    measured = run_measured([*argv, "-D", str(seconds), url], timeout_s=seconds + 60)
    match = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", measured.stdout)
    if measured.returncode != 0 or match is None:
        raise BenchError(f"h2load failed ({measured.returncode}):\n{measured.stdout}")
    return float(match.group(1))


def run_h2load(
    h2load: str,
    url: str,
    body_path: Path,
    concurrency: int,
    requests: int,
    response_bytes: int,
    log_path: Path,
    headers: Sequence[str] = GRPC_HEADERS,
) -> LoadResult:
    """`requests` unary calls over one HTTP/2 connection with `concurrency` streams in flight.

    `response_bytes` is the DATA a successful call returns (5-byte gRPC prefix included).
    """
    log_path.unlink(missing_ok=True)
    argv = _h2load_argv(h2load, body_path, concurrency, headers)
    argv += ["-n", str(requests), "--log-file", str(log_path), url]
    measured = run_measured(argv, timeout_s=600)
    out = measured.stdout
    finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    counts = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        out,
    )
    traffic = re.search(r"\((\d+)\) data", out)
    if measured.returncode != 0 or finished is None or counts is None or traffic is None:
        raise BenchError(f"h2load failed ({measured.returncode}):\n{out}{measured.stderr}")
    duration = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    total, _, done, succeeded, failed, errored, timeout = (int(g) for g in counts.groups())
    data = int(traffic.group(1))
    ok = min(succeeded, data // response_bytes) if response_bytes > 0 else 0
    latencies = _h2load_latencies_us(log_path)
    return LoadResult(
        tool="h2load",
        concurrency=concurrency,
        completed=done,
        ok=ok,
        errors=total - ok,
        duration_s=duration,
        throughput_rps=ok / duration if duration > 0 else 0.0,
        p50_ms=percentile(latencies, 50) / 1000,
        p90_ms=percentile(latencies, 90) / 1000,
        p99_ms=percentile(latencies, 99) / 1000,
        max_ms=(latencies[-1] if latencies else 0.0) / 1000,
        client_cpu_s=measured.cpu_s,
        detail={
            "http2_succeeded": succeeded,
            "failed": failed,
            "errored": errored,
            "timeout": timeout,
            "data_bytes": data,
            "response_bytes": response_bytes,
            "data_bytes_unaccounted": data - ok * response_bytes,
        },
    )


def _h2load_latencies_us(path: Path) -> list[float]:
    """Sorted request durations from h2load's log (start µs, status, duration µs per line)."""
    values: list[float] = []
    if not path.exists():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].isdigit():
            values.append(float(parts[2]))
    values.sort()
    return values


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])
