"""Properties over seeded random fleets and workloads, beyond what hand-made tables reach."""

from __future__ import annotations

import random

import numpy as np
import pytest

from scheduler.placement import (
    DEFAULT_FILTERS,
    DEFAULT_POLICY,
    PEER_SPREAD_POLICY,
    DemandContext,
    FleetView,
    GpuDevice,
    ModelDemand,
    Pass,
    PlacedReplica,
    PlacementPolicy,
    Scheduling,
    ServerSnapshot,
    place,
)

Mi = 2**20


def random_fleet(rng: random.Random, count: int) -> list[ServerSnapshot]:
    return [
        ServerSnapshot(
            name=f"s{n:03d}",
            memory_bytes=rng.choice((512, 1024, 4096)) * Mi,
            pool=rng.choice(("", "gpu-pool")),
            capabilities=frozenset(rng.sample(("torch", "gpu", "onnx"), rng.randint(0, 3))),
            overcommit_percent=rng.choice((0, 0, 20)),
            parallel_workers=rng.choice((1, 2, 4)),
            gpus=tuple(
                GpuDevice(k, rng.choice((256, 1024)) * Mi) for k in range(rng.randint(0, 2))
            ),
            draining=rng.random() < 0.1,
        )
        for n in range(count)
    ]


def random_demand(rng: random.Random, n: int) -> ModelDemand:
    replicas = rng.randint(0, 4)
    return ModelDemand(
        # Keys repeat: the same version comes back to scale up or down, and versions of one
        # model meet on servers.
        name=f"m{n % 20}",
        version=(n // 20) % 2,
        memory_bytes=rng.choice((64, 256, 512)) * Mi,
        replicas=replicas,
        min_replicas=rng.randint(0, replicas),
        gpu_memory_bytes=rng.choice((0, 0, 0, 64 * Mi)),
        requirements=frozenset(rng.sample(("torch", "gpu"), rng.randint(0, 1))),
        server=rng.choice((None, None, "gpu-pool")),
        instance_count=rng.choice((None, None, 1, 3)),
    )


@pytest.mark.parametrize("policy", [DEFAULT_POLICY, PEER_SPREAD_POLICY])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_placements_respect_capacity_anti_affinity_and_rebuild_identically(
    policy: PlacementPolicy, seed: int
) -> None:
    rng = random.Random(seed)
    servers = random_fleet(rng, 25)
    fleet = FleetView(servers)
    placed: dict[str, list[PlacedReplica]] = {s.name: [] for s in servers}
    for n in range(300):
        model = random_demand(rng, n)
        decision = place(model, fleet, policy)
        assert len(set(decision.servers)) == decision.placed <= model.replicas
        if decision.scheduling is not Scheduling.FULL:
            assert decision.reason and "no server passed" not in decision.reason
        fleet.apply(decision)
        for p in decision.add:
            placed[p.server].append(p.replica)
        for p in decision.remove:
            placed[p.server].remove(p.replica)
    assert np.all(fleet.free >= 0)
    assert all(min(free, default=0) >= 0 for free in fleet.gpu_free)
    for key, holders in fleet.holders.items():
        assert not fleet.extras.get(key), f"{key} placed twice on one server"
        assert all(not servers[i].draining for i in holders)
    rebuilt = FleetView(
        ServerSnapshot(
            s.name, s.memory_bytes, s.pool, s.capabilities, s.overcommit_percent,
            s.parallel_workers, s.gpus, s.draining, tuple(placed[s.name]),
        )
        for s in servers
    )  # fmt: skip
    assert np.array_equal(rebuilt.free, fleet.free)
    assert rebuilt.gpu_free == fleet.gpu_free


@pytest.mark.parametrize("seed", [4, 5])
def test_every_filter_mask_agrees_with_its_check(seed: int) -> None:
    rng = random.Random(seed)
    fleet = FleetView(random_fleet(rng, 30))
    for n in range(60):
        model = random_demand(rng, n)
        fleet.apply(place(model, fleet))
        ctx = DemandContext(model, fleet)
        for plugin in DEFAULT_FILTERS:
            mask = plugin.mask(ctx)
            checks = [plugin.check(ctx, i) == Pass() for i in range(len(fleet))]
            assert mask.tolist() == checks, plugin.name
