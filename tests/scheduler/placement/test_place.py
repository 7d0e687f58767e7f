"""place(): the decisions the reconcile loop acts on."""

from __future__ import annotations

import pytest

from scheduler.placement import (
    DEFAULT_FILTERS,
    PEER_SPREAD_POLICY,
    FleetView,
    Packing,
    PlacementPolicy,
    Scheduling,
    place,
)
from scheduler.placement.wording import TIMES as X
from tests.scheduler.placement.builders import demand, replica, server

SPREAD = PlacementPolicy(packing=Packing.SPREAD)
GiB = 2**30


def test_full_places_every_replica_on_distinct_servers() -> None:
    decision = place(demand(replicas=3), [server("a"), server("b"), server("c"), server("d")])
    assert decision.scheduling is Scheduling.FULL
    assert decision.reason == ""
    assert len(decision.add) == 3
    assert len(set(decision.servers)) == 3
    assert decision.keep == () and decision.remove == ()


def test_partial_keeps_what_fits_and_says_why() -> None:
    decision = place(demand(replicas=3, min_replicas=2), [server("a"), server("b")])
    assert decision.scheduling is Scheduling.PARTIAL
    assert sorted(decision.servers) == ["a", "b"]
    assert decision.reason == (
        "2 of 3 replicas placed: remaining servers already hold a replica of this version"
    )


def test_failed_below_min_replicas_still_places_what_fits() -> None:
    decision = place(demand(replicas=3, min_replicas=3), [server("a"), server("b")])
    assert decision.scheduling is Scheduling.FAILED
    assert decision.placed == 2
    assert decision.reason.startswith("2 of 3 replicas placed, fewer than minReplicas 3: ")


def test_nothing_placed_is_failed_even_with_min_replicas_zero() -> None:
    decision = place(demand(memory="8Gi", replicas=2, min_replicas=0), [server("a", "4Gi")])
    assert decision.scheduling is Scheduling.FAILED
    assert decision.placed == 0


def test_zero_replicas_is_full_and_places_nothing() -> None:
    decision = place(demand(replicas=0), [server("a")])
    assert decision.scheduling is Scheduling.FULL
    assert decision.add == ()


def test_cost_is_memory_times_workers_and_recorded_on_the_replica() -> None:
    decision = place(demand(memory="512Mi"), [server("a", "4Gi", workers=4)])
    (added,) = decision.add
    assert added.replica.memory_bytes == 2 * GiB
    assert added.replica.workers == 4
    assert added.replica.gpu is None


def test_gpu_device_is_the_tightest_fit_by_default_and_the_emptiest_under_spread() -> None:
    gpu_server = server("a", "16Gi", workers=2, gpus=["24Gi", "5Gi", "80Gi"])
    model = demand(gpu_memory="2Gi")  # 4Gi on one device with 2 workers
    (best,) = place(model, [gpu_server]).add
    (spread,) = place(model, [gpu_server], SPREAD).add
    assert (best.replica.gpu, best.replica.gpu_memory_bytes) == (1, 4 * GiB)
    assert spread.replica.gpu == 2


def test_model_that_fits_memory_but_no_gpu_device_has_room() -> None:
    busy = replica(gpu=0, gpu_memory="21Gi")
    servers = [server("a", "64Gi", gpus=["24Gi"], replicas=[busy]), server("b", "64Gi")]
    decision = place(demand(memory="1Gi", gpu_memory="1Gi", instances=4), servers)
    assert decision.scheduling is Scheduling.FAILED
    assert decision.reason == (
        f"needs 4Gi of GPU per replica (1Gi {X} 4 workers), largest free GPU is 3Gi on server a "
        "gpu 0; 1 server has no GPU"
    )


def test_pin_places_only_in_the_pool() -> None:
    servers = [server("a", "64Gi"), server("b", pool="gpu-pool"), server("c", pool="gpu-pool")]
    decision = place(demand(replicas=3, pool="gpu-pool"), servers)
    assert sorted(decision.servers) == ["b", "c"]
    assert decision.scheduling is Scheduling.PARTIAL


def test_one_replica_per_server_but_versions_may_share() -> None:
    servers = [server("a", replicas=[replica("iris", 1, "100Mi")])]
    assert place(demand("iris", version=1, replicas=2), servers).add == ()
    decision = place(demand("iris", version=2), servers)
    assert decision.servers == ("a",)


def test_overcommit_admits_more_than_physical_memory() -> None:
    model = demand(memory="3Gi")
    assert place(model, [server("a", "2Gi", overcommit=50)]).scheduling is Scheduling.FULL
    assert place(model, [server("a", "2Gi")]).scheduling is Scheduling.FAILED


def test_draining_server_takes_nothing_and_its_replicas_move() -> None:
    servers = [
        server("a", "1Gi", draining=True, replicas=[replica("iris", 1, "100Mi")]),
        server("b", "64Gi"),
    ]
    decision = place(demand("iris"), servers)
    assert decision.scheduling is Scheduling.FULL
    assert decision.servers == ("b",)
    assert [p.server for p in decision.remove] == ["a"]


def test_replica_on_a_server_that_lost_a_required_capability_moves() -> None:
    servers = [
        server("a", replicas=[replica("iris", 1, "100Mi")]),
        server("b", capabilities=["torch"]),
    ]
    decision = place(demand("iris", requirements=["torch"]), servers)
    assert decision.servers == ("b",)
    assert [p.server for p in decision.remove] == ["a"]


def test_existing_replicas_are_kept_and_only_the_missing_added() -> None:
    held = replica("iris", 1, "100Mi")
    servers = [server("a", replicas=[held]), server("b"), server("c")]
    decision = place(demand("iris", replicas=2), servers)
    assert [(p.server, p.replica) for p in decision.keep] == [("a", held)]
    assert len(decision.add) == 1 and decision.add[0].server != "a"
    assert decision.remove == ()


def test_existing_replica_stays_even_where_a_new_one_would_no_longer_fit() -> None:
    held = replica("iris", 1, "4Gi")
    decision = place(demand("iris", memory="4Gi"), [server("a", "4Gi", replicas=[held])])
    assert decision.scheduling is Scheduling.FULL
    assert decision.servers == ("a",) and decision.add == ()


def test_version_roll_over_places_the_new_version_next_to_the_old() -> None:
    old = replica("iris", 1, "1Gi")
    servers = [
        server("a", "4Gi", replicas=[old]),
        server("b", "4Gi", replicas=[old]),
        server("c", "64Gi"),
        server("d", "64Gi"),
    ]
    fleet = FleetView(servers)
    rolled = place(demand("iris", "1Gi", version=2, replicas=2), fleet)
    assert sorted(rolled.servers) == ["a", "b"]
    fleet.apply(rolled)
    retired = place(demand("iris", "1Gi", version=1, replicas=0), fleet)
    assert retired.scheduling is Scheduling.FULL
    assert sorted(p.server for p in retired.remove) == ["a", "b"]
    fleet.apply(retired)
    assert fleet.free_bytes("a") == 3 * GiB


def test_scale_down_removes_from_the_emptiest_server_under_best_fit() -> None:
    held = replica("iris", 1, "1Gi")
    servers = [
        server("a", "8Gi", replicas=[held, replica(memory="6Gi")]),  # 7Gi in use
        server("b", "8Gi", replicas=[held]),  # 1Gi in use: closest to empty
        server("c", "8Gi", replicas=[held, replica(memory="2Gi")]),  # 3Gi in use
    ]
    best = place(demand("iris", "1Gi", replicas=2), servers)
    assert [p.server for p in best.remove] == ["b"]
    assert sorted(best.servers) == ["a", "c"]
    spread = place(demand("iris", "1Gi", replicas=1), servers, SPREAD)
    assert sorted(p.server for p in spread.remove) == ["a", "c"]
    assert spread.servers == ("b",)


def test_prefers_servers_that_already_hold_the_model() -> None:
    servers = [
        server("tight", "2Gi", replicas=[replica(memory="1Gi")]),  # best-fit's first choice
        server("sibling", "8Gi", replicas=[replica("iris", 1, "1Gi")]),  # another version
        server("cached", "8Gi", cached=["iris"]),  # empty, but the artifact is on disk
    ]
    model = demand("iris", "512Mi", version=2, replicas=2)
    assert sorted(place(model, servers).servers) == ["cached", "sibling"]
    packing_only = PlacementPolicy(affinity_weight=0.0)
    assert place(model, servers, packing_only).servers == ("tight", "sibling")


def test_spread_and_best_fit_choose_differently() -> None:
    servers = [server("big", "32Gi"), server("busy", "8Gi", replicas=[replica(memory="6Gi")])]
    model = demand(memory="1Gi")
    assert place(model, servers).servers == ("busy",)
    assert place(model, servers, PEER_SPREAD_POLICY).servers == ("big",)


def test_best_fit_opens_the_largest_empty_server_when_none_in_use_has_room() -> None:
    servers = [server("small", "2Gi"), server("large", "64Gi"), server("mid", "8Gi")]
    assert place(demand(memory="1Gi"), servers).servers == ("large",)


def test_cpu_models_keep_off_gpu_servers_while_others_have_room() -> None:
    servers = [server("gpu", "64Gi", gpus=["80Gi"]), server("cpu", "4Gi")]
    assert place(demand(memory="1Gi"), servers).servers == ("cpu",)
    assert place(demand(memory="8Gi"), servers).servers == ("gpu",)


def test_capacity_is_accounted_across_consecutive_decisions() -> None:
    fleet = FleetView([server("a", "4Gi"), server("b", "4Gi")])
    first = place(demand("m1", "3Gi"), fleet)
    assert place(demand("m1", "3Gi"), fleet) == first  # place reads, never writes
    fleet.apply(first)
    second = place(demand("m2", "3Gi"), fleet)
    assert second.servers != first.servers
    fleet.apply(second)
    third = place(demand("m3", "3Gi"), fleet)
    assert third.scheduling is Scheduling.FAILED
    assert third.reason == (
        f"needs 3Gi per replica (3Gi {X} 1 worker), largest free is 1Gi on server a"
    )
    fleet.apply(third)
    assert place(demand("m4", "1Gi", replicas=2), fleet).scheduling is Scheduling.FULL


def test_decision_does_not_depend_on_the_order_servers_are_listed() -> None:
    servers = [server(name, "8Gi") for name in "dbca"]
    model = demand(replicas=2)
    assert place(model, servers) == place(model, list(reversed(servers)))
    assert place(model, servers).servers == ("a", "b")


def test_gpu_model_with_a_filter_list_lacking_the_gpu_filter_is_refused_loudly() -> None:
    filters = [f for f in DEFAULT_FILTERS if f.name != "gpu-memory"]
    with pytest.raises(ValueError, match="include GpuMemoryFilter"):
        place(demand(gpu_memory="1Gi"), [server("a")], filters=filters)
