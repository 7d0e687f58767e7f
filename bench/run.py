"""Run Loadmaster's benchmarks: `make bench`, or `python bench/run.py [--only NAME] ...`.

Each benchmark sets up what it needs (idempotently), starts real processes on loopback,
compares against a peer measured in the same run, prints a table with ratios and writes
`bench/results/<name>.json`. Benchmarks print; they never assert on timings.

To add one, write `bench/<name>.py` with `run(options: Options) -> Path` (the results file it
wrote) and register it in `BENCHMARKS` below. Modules are imported only when selected, so one
benchmark's imports never slow down or break another.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))  # run as a script: make `bench` importable as a package

from bench.common import BenchError, Options, log  # noqa: E402

BenchFn = Callable[[Options], Path]


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    module: str
    summary: str


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "dataplane",
            "bench.dataplane",
            "agent vs MLServer 1.7: same torch MLP, REST + gRPC, concurrency 1 and 16",
        ),
        Benchmark(
            "gateway",
            "bench.gateway",
            "gateway vs calling the agent directly: REST, c=1 and 32, shared and pinned CPUs",
        ),
        Benchmark(
            "pipeline",
            "bench.pipeline",
            "pipelines of 1-3 identity steps over Kafka vs the same calls direct, c=1 and 64",
        ),
        Benchmark(
            "placement",
            "bench.placement",
            "scheduler placement: best-fit vs spread, 10,000 replicas on 1,000 servers",
        ),
    )
}

QUICK = Options(duration_s=3.0, warmup_s=1.0, quick=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run Loadmaster's benchmarks.")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this benchmark (repeatable; known: {', '.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--duration", type=float, metavar="S", help="measured seconds per cell (default 10)"
    )
    parser.add_argument("--warmup", type=float, metavar="S", help="warm-up seconds per cell")
    parser.add_argument(
        "--quick", action="store_true", help="short runs (3 s per cell) to check that it works"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    base = QUICK if args.quick else Options()
    duration = args.duration if args.duration is not None else base.duration_s
    warmup = args.warmup if args.warmup is not None else base.warmup_s
    if duration <= 0 or warmup < 0:
        raise SystemExit("--duration must be > 0 and --warmup >= 0")
    return Options(duration_s=duration, warmup_s=warmup, quick=base.quick)


def load(benchmark: Benchmark) -> BenchFn:
    module = importlib.import_module(benchmark.module)
    function: BenchFn = module.run
    return function


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for benchmark in BENCHMARKS.values():
            print(f"{benchmark.name:12} {benchmark.summary}")
        return 0
    names = args.only or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    options = options_from(args)
    failed: list[str] = []
    for name in names:
        benchmark = BENCHMARKS[name]
        log(f"== {name}: {benchmark.summary}")
        started = time.monotonic()
        try:
            load(benchmark)(options)
        except BenchError as exc:
            failed.append(name)
            print(f"[bench] {name} could not run: {exc}", file=sys.stderr)
        except Exception:
            failed.append(name)
            traceback.print_exc()
        log(f"== {name}: {time.monotonic() - started:.0f}s")
    if failed:
        print(f"[bench] failed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
