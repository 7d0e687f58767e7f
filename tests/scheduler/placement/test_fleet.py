from __future__ import annotations

import pytest

from scheduler.placement import (
    FleetView,
    ModelKey,
    PlacementDecision,
    ReplicaPlacement,
    Scheduling,
    place,
)
from tests.scheduler.placement.builders import demand, replica, server

GiB = 2**30


def test_free_memory_counts_overcommit_and_placed_replicas() -> None:
    fleet = FleetView([server("a", "4Gi", overcommit=25, replicas=[replica(memory="1Gi")])])
    assert fleet.free_bytes("a") == 4 * GiB
    assert fleet.servers_in_use() == 1


def test_apply_charges_additions_and_refunds_removals() -> None:
    fleet = FleetView([server("a", "8Gi", workers=2, gpus=["16Gi", "8Gi"]), server("b")])
    decision = place(demand("iris", "1Gi", gpu_memory="3Gi"), fleet)
    fleet.apply(decision)
    assert fleet.free_bytes("a") == 6 * GiB
    assert fleet.gpu_free_bytes("a", 1) == 2 * GiB  # 3Gi x 2 workers on the 8Gi device
    assert fleet.servers_in_use() == 1
    undo = PlacementDecision(ModelKey("iris", 1), Scheduling.FULL, remove=decision.add)
    fleet.apply(undo)
    assert (fleet.free_bytes("a"), fleet.gpu_free_bytes("a", 1)) == (8 * GiB, 8 * GiB)
    assert fleet.servers_in_use() == 0


def test_removing_a_replica_that_is_not_there_is_an_error() -> None:
    fleet = FleetView([server("a")])
    ghost = ReplicaPlacement("a", replica("iris"))
    with pytest.raises(KeyError, match="iris:v1 is not on server a"):
        fleet.apply(PlacementDecision(ModelKey("iris", 1), Scheduling.FULL, remove=(ghost,)))


def test_a_second_replica_of_one_version_on_a_server_is_removed() -> None:
    held = replica("iris", 1, "1Gi")
    fleet = FleetView([server("a", "4Gi", replicas=[held, held])])
    decision = place(demand("iris", "1Gi"), fleet)
    assert [(p.server, p.replica) for p in decision.keep] == [("a", held)]
    assert [(p.server, p.replica) for p in decision.remove] == [("a", held)]
    fleet.apply(decision)
    assert fleet.free_bytes("a") == 3 * GiB
    assert place(demand("iris", "1Gi"), fleet).remove == ()


def test_server_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        FleetView([server("a"), server("a")])
