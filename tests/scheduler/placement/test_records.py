from __future__ import annotations

from collections.abc import Callable

import pytest

from scheduler.placement import (
    GpuDevice,
    ModelDemand,
    ModelKey,
    PlacementDecision,
    ReplicaPlacement,
    Scheduling,
    ServerSnapshot,
)
from tests.scheduler.placement.builders import replica, server


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ModelDemand("m", 1, -1), "must not be negative"),
        (lambda: ModelDemand("m", 1, 1, gpu_memory_bytes=-1), "must not be negative"),
        (lambda: ModelDemand("m", 1, 1, replicas=1, min_replicas=2), r"minReplicas \(2\)"),
        (lambda: ModelDemand("m", 1, 1, replicas=-1), "minReplicas"),
        (lambda: ModelDemand("m", 1, 1, instance_count=0), "instance count"),
        (lambda: ServerSnapshot("s", -1), "must not be negative"),
        (lambda: ServerSnapshot("s", 1, overcommit_percent=-5), "must not be negative"),
        (lambda: ServerSnapshot("s", 1, parallel_workers=0), "parallel_workers"),
        (
            lambda: ServerSnapshot("s", 1, gpus=(GpuDevice(0, 1), GpuDevice(0, 1))),
            "GPU indices must be unique",
        ),
        (
            lambda: ServerSnapshot("s", 1, gpus=(GpuDevice(0, 1),), replicas=(replica(gpu=3),)),
            "unknown gpu 3",
        ),
    ],
)
def test_invalid_records_are_rejected(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("memory", "overcommit", "usable"),
    [("2Gi", 0, 2 * 2**30), ("2Gi", 50, 3 * 2**30), ("1000", 10, 1100), ("0", 100, 0)],
)
def test_usable_memory_includes_overcommit(memory: str, overcommit: int, usable: int) -> None:
    assert server("a", memory, overcommit=overcommit).usable_memory_bytes == usable


def test_decision_lists_servers_kept_then_added() -> None:
    kept = ReplicaPlacement("b", replica("iris"))
    added = ReplicaPlacement("a", replica("iris"))
    removed = ReplicaPlacement("c", replica("iris"))
    decision = PlacementDecision(
        ModelKey("iris", 1), Scheduling.FULL, keep=(kept,), add=(added,), remove=(removed,)
    )
    assert decision.servers == ("b", "a")
    assert decision.placed == 2
    assert str(decision.model) == "iris:v1"
