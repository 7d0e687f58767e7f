"""Short constructors for placement tests: sizes as text, defaults for everything else."""

from __future__ import annotations

from collections.abc import Sequence

from loadmaster.units import parse_memory
from scheduler.placement import (
    DemandContext,
    Filter,
    FleetView,
    GpuDevice,
    ModelDemand,
    ModelKey,
    PlacedReplica,
    ServerSnapshot,
    Verdict,
)
from scheduler.placement.reasons import rejections


def replica(
    model: str = "other", version: int = 1, memory: str = "0", gpu: int | None = None,
    gpu_memory: str = "0",
) -> PlacedReplica:  # fmt: skip
    return PlacedReplica(
        ModelKey(model, version), parse_memory(memory), gpu, parse_memory(gpu_memory)
    )


def server(
    name: str,
    memory: str = "4Gi",
    *,
    pool: str = "",
    capabilities: Sequence[str] = (),
    overcommit: int = 0,
    workers: int = 1,
    gpus: Sequence[str] = (),
    draining: bool = False,
    replicas: Sequence[PlacedReplica] = (),
    cached: Sequence[str] = (),
) -> ServerSnapshot:
    return ServerSnapshot(
        name=name,
        memory_bytes=parse_memory(memory),
        pool=pool,
        capabilities=frozenset(capabilities),
        overcommit_percent=overcommit,
        parallel_workers=workers,
        gpus=tuple(GpuDevice(i, parse_memory(size)) for i, size in enumerate(gpus)),
        draining=draining,
        replicas=tuple(replicas),
        cached_models=frozenset(cached),
    )


def demand(
    name: str = "iris",
    memory: str = "100Mi",
    *,
    version: int = 1,
    replicas: int = 1,
    min_replicas: int = 0,
    gpu_memory: str = "0",
    requirements: Sequence[str] = (),
    pool: str | None = None,
    instances: int | None = None,
) -> ModelDemand:
    return ModelDemand(
        name=name,
        version=version,
        memory_bytes=parse_memory(memory),
        replicas=replicas,
        min_replicas=min_replicas,
        gpu_memory_bytes=parse_memory(gpu_memory),
        requirements=frozenset(requirements),
        server=pool,
        instance_count=instances,
    )


def context(model: ModelDemand, *servers: ServerSnapshot) -> DemandContext:
    return DemandContext(model, FleetView(servers))


def judge(
    plugin: Filter, model: ModelDemand, target: ServerSnapshot, *others: ServerSnapshot
) -> tuple[Verdict, bool]:
    """A filter's verdict on `target` and whether its bulk mask lets `target` through."""
    ctx = context(model, target, *others)
    index = ctx.fleet.index[target.name]
    return plugin.check(ctx, index), bool(plugin.mask(ctx)[index])


def summary(plugin: Filter, model: ModelDemand, *servers: ServerSnapshot) -> list[str]:
    """The clause `plugin` contributes to a reason when it alone filters `servers`."""
    return rejections(context(model, *servers), [plugin])
