"""Placement benchmark: best-fit (the default policy) against a spread placer, on one workload.

A seeded fleet of mixed servers (8-64Gi, 1/2/4 parallel workers, some with GPUs) takes a seeded
stream of models (mixed sizes, 1-4 replicas, some needing a GPU), one decision per model, each
decision applied before the next as the reconcile loop does. Printed: time per decision (p50,
p99), servers used, and the lower bound on servers, with the targets and whether they were met;
written to bench/results/placement.json. Timing is reported, never asserted: the tests check
behaviour, this file measures it. Pure CPU, no processes: it runs in a few seconds.

    python bench/placement.py [--servers 1000] [--replicas 10000] [--seed 7] [--size-scale 2]
    python bench/run.py --only placement     (once registered there)

`--size-scale` multiplies every model size, i.e. sets how busy the fleet gets (at 2, replicas
take about 30% of the fleet's memory at their cheapest cost, 43% as best-fit places them).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))  # run as a script: make `bench` importable as a package

from bench.common import Options, format_table, write_results  # noqa: E402
from scheduler.placement import (  # noqa: E402
    DEFAULT_POLICY,
    PEER_SPREAD_POLICY,
    FleetView,
    GpuDevice,
    ModelDemand,
    PlacedReplica,
    PlacementPolicy,
    Scheduling,
    ServerSnapshot,
    lower_bound_servers,
    place,
)

Mi, Gi = 2**20, 2**30
NAME = "placement"
P50_TARGET_MS = 1.0
SERVER_RATIO_TARGET = 0.8


def make_fleet(count: int, rng: random.Random) -> list[ServerSnapshot]:
    """Mixed servers; one in ten has 1-4 GPUs of 24Gi or 80Gi and the `gpu` capability."""
    servers = []
    for n in range(count):
        gpus: tuple[GpuDevice, ...] = ()
        if rng.random() < 0.1:
            size = rng.choice((24, 80)) * Gi
            gpus = tuple(GpuDevice(k, size) for k in range(rng.choice((1, 2, 4))))
        servers.append(
            ServerSnapshot(
                name=f"server-{n:04d}",
                memory_bytes=rng.choice((8, 16, 32, 64)) * Gi,
                capabilities=frozenset({"torch", "gpu"} if gpus else {"torch"}),
                parallel_workers=rng.choice((1, 2, 4)),
                gpus=gpus,
            )
        )
    return servers


def make_models(total_replicas: int, rng: random.Random, scale: float) -> list[ModelDemand]:
    """Models of mixed sizes (32Mi-2Gi per instance, times `scale`) until their replicas add up
    to `total_replicas`; one in ten needs a GPU, one in five sets its own instance count."""
    base = (32 * Mi, 64 * Mi, 128 * Mi, 256 * Mi, 512 * Mi, 1 * Gi, 2 * Gi)
    sizes = tuple(int(size * scale) for size in base)
    weights = (10, 15, 20, 20, 15, 12, 8)
    models: list[ModelDemand] = []
    left = total_replicas
    while left > 0:
        replicas = min(left, rng.randint(1, 4))
        gpu = rng.random() < 0.1
        models.append(
            ModelDemand(
                name=f"model-{len(models):05d}",
                version=1,
                memory_bytes=rng.choices(sizes, weights)[0],
                replicas=replicas,
                min_replicas=1,
                gpu_memory_bytes=rng.choice((1, 2, 4, 8)) * Gi if gpu else 0,
                requirements=frozenset({"torch", "gpu"} if gpu else {"torch"}),
                instance_count=1 if rng.random() < 0.2 else None,
            )
        )
        left -= replicas
    return models


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one placer did with the whole workload."""

    label: str
    times_ms: tuple[float, ...]
    servers_used: int
    replicas_placed: int
    cost_placed: int
    failed_models: int
    partial_models: int
    apply_ms: float
    index_ms: float

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.times_ms, n=100, method="inclusive")[q - 1]


def loaded_snapshots(
    servers: list[ServerSnapshot], held: dict[str, list[PlacedReplica]]
) -> list[ServerSnapshot]:
    """The fleet as the store would list it after the run: each server with its replicas."""
    return [replace(s, replicas=tuple(held[s.name])) for s in servers]


def measure(
    label: str, policy: PlacementPolicy, servers: list[ServerSnapshot], models: list[ModelDemand]
) -> Outcome:
    """Place every model in turn, applying each decision; time `place` alone per decision."""
    fleet = FleetView(servers)
    times: list[float] = []
    apply_ns = cost = placed = failed = partial = 0
    held: dict[str, list[PlacedReplica]] = {s.name: [] for s in servers}
    for demand in models:
        start = time.perf_counter_ns()
        decision = place(demand, fleet, policy)
        middle = time.perf_counter_ns()
        fleet.apply(decision)
        apply_ns += time.perf_counter_ns() - middle
        times.append((middle - start) / 1e6)
        failed += decision.scheduling is Scheduling.FAILED
        partial += decision.scheduling is Scheduling.PARTIAL
        for p in decision.add:
            placed += 1
            cost += p.replica.memory_bytes
            held[p.server].append(p.replica)
    # The once-per-pass cost: indexing the loaded fleet, as a reconcile pass does.
    snapshots = loaded_snapshots(servers, held)
    start = time.perf_counter_ns()
    FleetView(snapshots)
    index_ms = (time.perf_counter_ns() - start) / 1e6
    return Outcome(
        label=label,
        times_ms=tuple(times),
        servers_used=fleet.servers_in_use(),
        replicas_placed=placed,
        cost_placed=cost,
        failed_models=failed,
        partial_models=partial,
        apply_ms=apply_ns / 1e6 / len(models),
        index_ms=index_ms,
    )


def cheapest_cost(demand: ModelDemand, servers: Sequence[ServerSnapshot]) -> int:
    """The least a replica can cost on any server that could ever host it."""
    if demand.instance_count is not None:
        return demand.memory_bytes * demand.instance_count
    workers = min(s.parallel_workers for s in servers if demand.requirements <= s.capabilities)
    return demand.memory_bytes * workers


@dataclass(frozen=True, slots=True)
class Workload:
    """The benchmark's knobs; the defaults are the workload the targets are stated for."""

    servers: int = 1000
    replicas: int = 10_000
    seed: int = 7
    size_scale: float = 2.0


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def benchmark(workload: Workload) -> dict[str, object]:
    """Measure both placers on `workload`, print the comparison, return it as a document."""
    rng = random.Random(workload.seed)
    servers = make_fleet(workload.servers, rng)
    models = make_models(workload.replicas, rng, workload.size_scale)
    capacities = [s.usable_memory_bytes for s in servers]
    outcomes = [
        measure("best-fit (default)", DEFAULT_POLICY, servers, models),
        measure("spread (peer)", PEER_SPREAD_POLICY, servers, models),
    ]
    best, spread = outcomes
    cheapest = sum(cheapest_cost(m, servers) * m.replicas for m in models)
    floor = lower_bound_servers(cheapest, capacities)
    ratio = best.servers_used / spread.servers_used
    p50 = best.percentile(50)
    rows = [
        [
            o.label, f"{o.percentile(50):.3f}", f"{o.percentile(99):.3f}", str(o.replicas_placed),
            str(o.failed_models), str(o.partial_models), f"{o.cost_placed / Gi:.0f}",
            str(o.servers_used), str(lower_bound_servers(o.cost_placed, capacities)),
            f"{o.apply_ms:.3f}", f"{o.index_ms:.1f}",
        ]
        for o in outcomes
    ]  # fmt: skip
    headers = [
        "placer", "p50 ms", "p99 ms", "placed", "failed", "partial", "cost Gi", "servers",
        "bound", "apply ms", "index ms",
    ]  # fmt: skip
    print(
        f"placement: {len(models)} models, {sum(m.replicas for m in models)} replicas, "
        f"{len(servers)} servers ({sum(capacities) / Gi:.0f}Gi usable), seed {workload.seed}, "
        f"size scale {workload.size_scale:g}"
    )
    print(format_table(headers, rows))
    print(
        "p50/p99: place() per decision; apply: FleetView.apply per decision; index: building\n"
        "  the FleetView of the loaded fleet, once per reconcile pass.\n"
        "bound: ceil(cost / capacity), the fewest servers (largest first) covering the cost the\n"
        f"  placer placed; any placer needs >= {floor} (every replica at its cheapest cost)."
    )
    print(f"servers used, best-fit / spread: {ratio:.2f}x")
    p50_met, ratio_met = p50 <= P50_TARGET_MS, ratio <= SERVER_RATIO_TARGET
    print(f"target p50 <= {P50_TARGET_MS:g} ms per decision: {verdict(p50_met)} ({p50:.3f} ms)")
    print(f"target servers <= {SERVER_RATIO_TARGET:g}x spread: {verdict(ratio_met)} ({ratio:.2f}x)")
    return {
        "workload": {
            "servers": workload.servers,
            "replicas": workload.replicas,
            "models": len(models),
            "seed": workload.seed,
            "size_scale": workload.size_scale,
            "usable_bytes": sum(capacities),
        },
        "placers": [
            {
                "placer": o.label,
                "p50_ms": o.percentile(50),
                "p99_ms": o.percentile(99),
                "replicas_placed": o.replicas_placed,
                "failed_models": o.failed_models,
                "partial_models": o.partial_models,
                "cost_bytes": o.cost_placed,
                "servers_used": o.servers_used,
                "lower_bound_servers": lower_bound_servers(o.cost_placed, capacities),
                "apply_ms": o.apply_ms,
                "index_ms": o.index_ms,
            }
            for o in outcomes
        ],
        "lower_bound_any_placer": floor,
        "servers_ratio_best_fit_to_spread": ratio,
        "targets": {"p50_le_1ms": p50_met, "servers_le_0.8x_spread": ratio_met},
    }


def run(options: Options, workload: Workload = Workload()) -> Path:
    """bench/run.py's entry: print the comparison, write `<results_dir>/placement.json`.

    The run takes seconds, so `options.quick` changes nothing; durations do not apply.
    """
    document = benchmark(workload)
    return write_results(options.results_dir / f"{NAME}.json", document)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/placement.py", description="placement benchmark")
    defaults = Workload()
    parser.add_argument("--servers", type=int, default=defaults.servers)
    parser.add_argument("--replicas", type=int, default=defaults.replicas)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--size-scale", type=float, default=defaults.size_scale, help="multiply model sizes"
    )
    args = parser.parse_args(argv)
    workload = Workload(args.servers, args.replicas, args.seed, args.size_scale)
    print(f"results: {run(Options(), workload)}")


if __name__ == "__main__":
    main()
