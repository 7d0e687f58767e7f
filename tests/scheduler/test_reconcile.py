"""reconcile_pass: placement outcomes, orders, heartbeat loss, unloads, rolls and scaling.

Every expected server is worked out by hand in the comments from the default policy: GPU reserve
(flat here: no server has a GPU unless a test says so), then model affinity, then best-fit
packing (scheduler/placement/scorers/packing.py): a server already in use scores
1 - 0.5 * left / scale, an empty one 0.5 * left / scale, where `left` is the free memory the
replica would leave and `scale` the largest usable memory in the fleet. Ties go to the earlier
name. Free memory is tracked as "a3" (3Gi free on a).
"""

from __future__ import annotations

from loadmaster.model_state import ModelState, ServerState
from loadmaster.replica_state import ReplicaState
from scheduler.model_admin import Applied, request_unload
from scheduler.model_status import PLACED
from scheduler.orders import LoadOrder
from scheduler.placement import Scheduling
from scheduler.placement.wording import TIMES as X
from scheduler.records import ReplicaId
from tests.scheduler.fakes import (
    Gi,
    Mi,
    Rig,
    apply,
    beat,
    brief,
    loaded,
    make_core,
    reconcile,
    register,
    replica_states,
    report,
    spec,
    status,
    unloaded,
)

S = ReplicaState
M = ModelState
FULL, PARTIAL, FAILED = Scheduling.FULL, Scheduling.PARTIAL, Scheduling.FAILED


def verdict(rig: Rig, name: str) -> tuple[ModelState, Scheduling, int]:
    st = status(rig, name)
    return st.state, st.scheduling, st.available_replicas


# ---- (1) packing three unequal servers --------------------------------------------------------


async def test_best_fit_packing_on_unequal_servers() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await register(rig, "b", 2 * Gi)
    await register(rig, "c", 1 * Gi)
    # scale = 4Gi. Start: a4 b2 c1, all empty.
    # m1 1Gi x2: empty servers, larger first: a (0.375), b (0.125), c (0) -> a, b. Now a3 b1 c1.
    await apply(rig, spec("m1", 1 * Gi, replicas=2))
    # m2 512Mi: in use a (left 2.5: 0.6875), in use b (left 0.5: 0.9375), empty c (0.0625) -> b.
    # Best fit, not spread (spread would pick a). Now a3 b0.5 c1.
    await apply(rig, spec("m2", 512 * Mi))
    # m3 2Gi x2, min 1: only a has 2Gi -> a; Partial. Now a1 b0.5 c1.
    await apply(rig, spec("m3", 2 * Gi, replicas=2, min_replicas=1))
    # m4 2Gi: nobody has 2Gi (a1 b0.5 c1) -> Failed; a and c are short by 1Gi, a named first.
    await apply(rig, spec("m4", 2 * Gi))
    # m5 1Gi: a (in use, left 0: 1.0) beats c (empty, left 0: 0.0); b is short -> a. Now a0.
    await apply(rig, spec("m5", 1 * Gi))

    orders = await reconcile(rig)

    assert orders == [
        ("load", "a", "m1:v1"),
        ("load", "b", "m1:v1"),
        ("load", "b", "m2:v1"),
        ("load", "a", "m3:v1"),
        ("load", "a", "m5:v1"),
    ]
    assert rig.sink.sent[0] == (
        "a",
        LoadOrder(order_id=1, model="m1", version=1, storage_uri="file:///models/m1"),
    )
    assert verdict(rig, "m1") == (M.PROGRESSING, FULL, 0)
    assert verdict(rig, "m2") == (M.PROGRESSING, FULL, 0)
    assert verdict(rig, "m3") == (M.PROGRESSING, PARTIAL, 0)
    assert status(rig, "m3").reason == (
        "1 of 2 replicas placed: 1 server already holds a replica of this version; "
        f"needs 2Gi per replica (2Gi {X} 1 worker), largest free is 1Gi on server c"
    )
    assert verdict(rig, "m4") == (M.SCHEDULE_FAILED, FAILED, 0)
    assert status(rig, "m4").reason == (
        f"needs 2Gi per replica (2Gi {X} 1 worker), largest free is 1Gi on server a"
    )
    assert rig.state.replicas_of("m4") == []
    assert verdict(rig, "m5") == (M.PROGRESSING, FULL, 0)
    assert rig.state.replicas[ReplicaId("m3", 1, "a")].memory_bytes == 2 * Gi

    await loaded(rig)
    assert await reconcile(rig) == []  # settled: nothing more fits
    assert verdict(rig, "m1") == (M.AVAILABLE, FULL, 2)
    assert verdict(rig, "m2") == (M.AVAILABLE, FULL, 1)
    assert verdict(rig, "m3") == (M.AVAILABLE, PARTIAL, 1)
    assert verdict(rig, "m5") == (M.AVAILABLE, FULL, 1)
    # m4 still gets nothing; with a full, c is now the closest fit.
    assert verdict(rig, "m4") == (M.SCHEDULE_FAILED, FAILED, 0)
    assert status(rig, "m4").reason == (
        f"needs 2Gi per replica (2Gi {X} 1 worker), largest free is 1Gi on server c"
    )
    assert [o for o in brief(rig.sink.sent) if o[2].startswith("m4:")] == []


async def test_parallel_workers_multiply_the_cost() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi, workers=4)
    await register(rig, "b", 2 * Gi)
    # 768Mi x 4 workers = 3Gi fits a; on b it costs 768Mi. Empty servers, larger left first:
    # a leaves 1Gi of 4 (0.125), b leaves 1.25Gi (0.15625) -> b.
    await apply(rig, spec("m", 768 * Mi))
    # 1.5Gi: a would cost 6Gi (too much); b has 1.25Gi left -> Failed, closest fit named.
    await apply(rig, spec("big", 1536 * Mi))
    assert await reconcile(rig) == [("load", "b", "m:v1")]
    assert status(rig, "big").reason == (
        f"needs 1.5Gi per replica (1.5Gi {X} 1 worker), closest fit is server b with 1.2Gi free"
    )


# ---- (2) and (3) heartbeat loss, then a new agent ---------------------------------------------


async def lost_b() -> Rig:
    """a 4Gi, b 2Gi, c 1Gi; b stops heart-beating and is lost in the returned rig's last pass."""
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await register(rig, "b", 2 * Gi)
    await register(rig, "c", 1 * Gi)
    # m1 1Gi x3 min 2: one per server -> a, b, c. Now a3 b1 c0.
    await apply(rig, spec("m1", 1 * Gi, replicas=3, min_replicas=2))
    # m2 512Mi: a (left 2.5: 0.6875) vs b (left 0.5: 0.9375) -> b. Now b0.5.
    await apply(rig, spec("m2", 512 * Mi))
    # m3 512Mi: a (0.6875) vs b (left 0: 1.0) -> b. Now b0.
    await apply(rig, spec("m3", 512 * Mi))
    # m4 2.5Gi: only a. Now a0.5.
    await apply(rig, spec("m4", 2560 * Mi))
    assert await reconcile(rig) == [
        ("load", "a", "m1:v1"),
        ("load", "b", "m1:v1"),
        ("load", "c", "m1:v1"),
        ("load", "b", "m2:v1"),
        ("load", "b", "m3:v1"),
        ("load", "a", "m4:v1"),
    ]
    await loaded(rig)
    assert await reconcile(rig) == []
    rig.clock.advance(4.0)
    await beat(rig, "a", "c")
    assert await reconcile(rig) == []  # 4s of silence is within the 5s timeout
    rig.clock.advance(2.0)  # b: 6s silent; a and c: 2s
    await beat(rig, "a", "c")
    return rig


async def test_heartbeat_loss_loses_the_server_and_replaces_what_fits() -> None:
    rig = await lost_b()
    # b is lost: a0.5 c0 remain. m1 keeps a and c, and nowhere else takes a third: Partial but
    # still at its floor of 2. m2 (512Mi) fits a's last 512Mi. m3 (512Mi) then fits nowhere.
    orders = await reconcile(rig)
    assert orders == [("load", "a", "m2:v1")]
    assert rig.state.servers["b"].state is ServerState.LOST
    assert rig.sink.disconnects == ["b"]
    assert not rig.sink.connected("b")
    assert [(r.model, r.state, r.reason) for r in rig.state.replicas_on("b")] == [
        ("m1", S.LOST, "server lost"),
        ("m2", S.LOST, "server lost"),
        ("m3", S.LOST, "server lost"),
    ]
    assert verdict(rig, "m1") == (M.AVAILABLE, PARTIAL, 2)
    assert status(rig, "m1").reason == (
        "2 of 3 replicas placed: remaining servers already hold a replica of this version"
    )
    assert verdict(rig, "m2") == (M.PROGRESSING, FULL, 0)
    assert verdict(rig, "m3") == (M.SCHEDULE_FAILED, FAILED, 0)
    assert status(rig, "m3").reason == (
        f"needs 512Mi per replica (512Mi {X} 1 worker), largest free is 0 on server a"
    )
    assert verdict(rig, "m4") == (M.AVAILABLE, FULL, 1)
    await loaded(rig)
    assert await reconcile(rig) == []
    assert verdict(rig, "m2") == (M.AVAILABLE, FULL, 1)
    assert rig.sink.disconnects == ["b"]  # lost once, not on every pass


async def test_a_new_agent_turns_partial_and_failed_models_full() -> None:
    rig = await lost_b()
    await reconcile(rig)
    await loaded(rig)
    await register(rig, "d", 4 * Gi)
    # d is empty with 4Gi: m1's third replica -> d (now d3), then m3 -> d (only d has room).
    assert await reconcile(rig) == [("load", "d", "m1:v1"), ("load", "d", "m3:v1")]
    await loaded(rig)
    assert await reconcile(rig) == []
    assert verdict(rig, "m1") == (M.AVAILABLE, FULL, 3)
    assert verdict(rig, "m3") == (M.AVAILABLE, FULL, 1)
    assert status(rig, "m1").reason == ""


async def test_a_lost_server_that_returns_holding_nothing_forgets_its_lost_replicas() -> None:
    rig = await lost_b()
    await reconcile(rig)
    await loaded(rig)
    await register(rig, "b", 2 * Gi)
    assert rig.state.servers["b"].state is ServerState.READY
    assert rig.state.replicas_on("b") == []
    # b2 empty: m1's third replica (b0.5 after), then m3 512Mi -> b (b0).
    assert await reconcile(rig) == [("load", "b", "m1:v1"), ("load", "b", "m3:v1")]


# ---- (4) unload frees capacity ----------------------------------------------------------------


async def test_unload_frees_capacity_that_a_failed_model_then_takes() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await apply(rig, spec("m1", 2 * Gi))
    await apply(rig, spec("m2", 2 * Gi))
    assert await reconcile(rig) == [("load", "a", "m1:v1")]
    assert status(rig, "m2").reason == (
        f"needs 2Gi per replica (2Gi {X} 1 worker), largest free is 0 on server a"
    )
    await loaded(rig)
    assert await reconcile(rig) == []

    await request_unload(rig.core, "m1")
    assert await reconcile(rig) == [("unload", "a", "m1:v1")]
    assert status(rig, "m1").state is M.TERMINATING
    assert verdict(rig, "m2") == (M.SCHEDULE_FAILED, FAILED, 0)
    await report(rig, "a", "m1", 1, S.UNLOADING)
    assert await reconcile(rig) == []  # still holding its memory while unloading
    await report(rig, "a", "m1", 1, S.UNLOADED)
    assert await reconcile(rig) == [("load", "a", "m2:v1")]
    assert "m1" not in rig.state.models
    assert ("m1", 1) not in rig.state.versions
    assert rig.state.replicas_of("m1") == []


async def test_unload_of_a_model_on_a_lost_server_forgets_it_at_once() -> None:
    rig = await lost_b()
    await reconcile(rig)
    await request_unload(rig.core, "m3")  # its only replica was on b
    assert await reconcile(rig) == []
    assert "m3" not in rig.state.models


# ---- (5) version roll -------------------------------------------------------------------------


async def test_version_roll_unloads_the_old_version_only_once_the_new_one_serves() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await register(rig, "b", 2 * Gi)
    # 1Gi x2 on two empty 2Gi servers: equal scores, name order -> a, b.
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    assert await reconcile(rig) == [("load", "a", "m:v1"), ("load", "b", "m:v1")]
    await loaded(rig)
    await reconcile(rig)

    applied = await apply(rig, spec("m", 1 * Gi, replicas=2, uri="file:///models/m-2"))
    assert (applied.version, applied.changed) == (2, True)
    assert rig.state.models["m"].version == 2
    # v2 goes next to v1: both servers hold the model (affinity) and are left with 0 (best fit).
    assert await reconcile(rig) == [("load", "a", "m:v2"), ("load", "b", "m:v2")]
    v2_orders = [o for _, o in rig.sink.sent if isinstance(o, LoadOrder) and o.version == 2]
    assert {o.storage_uri for o in v2_orders} == {"file:///models/m-2"}
    assert status(rig, "m").state is M.AVAILABLE

    await report(rig, "a", "m", 2, S.LOADING)
    await report(rig, "b", "m", 2, S.LOADING)
    assert await reconcile(rig) == []
    assert status(rig, "m").state is M.AVAILABLE
    await report(rig, "a", "m", 2, S.AVAILABLE)
    assert await reconcile(rig) == []  # b's v2 is still loading: v1 keeps serving
    assert status(rig, "m").state is M.AVAILABLE
    await report(rig, "b", "m", 2, S.AVAILABLE)
    assert await reconcile(rig) == [("unload", "a", "m:v1"), ("unload", "b", "m:v1")]
    assert status(rig, "m").state is M.AVAILABLE
    assert await reconcile(rig) == []  # an unload is ordered once
    await unloaded(rig)
    assert await reconcile(rig) == []
    assert set(rig.state.versions) == {("m", 2)}
    assert replica_states(rig, "m") == [("a", 2, S.AVAILABLE), ("b", 2, S.AVAILABLE)]
    assert verdict(rig, "m") == (M.AVAILABLE, FULL, 2)


async def test_a_parameter_change_is_a_new_version_too() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await apply(rig, spec("m", 512 * Mi))
    await reconcile(rig)
    await loaded(rig)
    applied = await apply(rig, spec("m", 512 * Mi, parameters=[("max_batch_size", "8")]))
    assert applied.version == 2
    assert await reconcile(rig) == [("load", "a", "m:v2")]
    assert rig.sink.sent[-1][1] == LoadOrder(
        order_id=2,
        model="m",
        version=2,
        storage_uri="file:///models/m",
        parameters=(("max_batch_size", "8"),),
    )


# ---- (6) scaling ------------------------------------------------------------------------------


async def test_scaling_keeps_the_version_and_reloads_nothing() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    assert await reconcile(rig) == [("load", "a", "m:v1")]
    await loaded(rig)
    await reconcile(rig)

    applied = await apply(rig, spec("m", 1 * Gi, replicas=2))
    assert (applied.version, applied.changed) == (1, True)
    assert set(rig.state.versions) == {("m", 1)}
    assert rig.state.versions[("m", 1)].spec.replicas == 2
    assert await reconcile(rig) == [("load", "b", "m:v1")]  # a already holds one
    await loaded(rig)
    assert await reconcile(rig) == []
    assert verdict(rig, "m") == (M.AVAILABLE, FULL, 2)

    applied = await apply(rig, spec("m", 1 * Gi, replicas=1))
    assert (applied.version, applied.changed) == (1, True)
    # Best fit removes from the server with least in use; a and b tie, the later name goes.
    assert await reconcile(rig) == [("unload", "b", "m:v1")]
    assert verdict(rig, "m") == (M.AVAILABLE, FULL, 1)
    await unloaded(rig)
    assert await reconcile(rig) == []
    assert replica_states(rig, "m") == [("a", 1, S.AVAILABLE)]
    assert set(rig.state.versions) == {("m", 1)}


async def test_scale_down_waits_for_loads_in_flight() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    await reconcile(rig)
    await report(rig, "a", "m", 1, S.LOADING, S.AVAILABLE)
    await apply(rig, spec("m", 1 * Gi, replicas=1))
    assert await reconcile(rig) == []  # b is still loading
    await report(rig, "b", "m", 1, S.LOADING, S.AVAILABLE)
    assert await reconcile(rig) == [("unload", "b", "m:v1")]


async def test_scale_to_zero_unloads_everything_and_scaling_up_loads_again() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    await reconcile(rig)
    await loaded(rig)
    assert await apply(rig, spec("m", 1 * Gi, replicas=0, min_replicas=0)) == Applied(1, True)
    # Removal order under best fit: equal use, so the later name first.
    assert await reconcile(rig) == [("unload", "b", "m:v1"), ("unload", "a", "m:v1")]
    assert status(rig, "m").state is M.SCALED_DOWN
    await unloaded(rig)
    assert await reconcile(rig) == []
    assert replica_states(rig, "m") == []
    assert verdict(rig, "m") == (M.SCALED_DOWN, FULL, 0)
    await apply(rig, spec("m", 1 * Gi))
    assert await reconcile(rig) == [("load", "a", "m:v1")]


async def test_scale_up_while_a_replica_unloads_loads_one_replica() -> None:
    rig = make_core()
    for name in ("a", "b", "c"):
        await register(rig, name, 2 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    assert await reconcile(rig) == [("load", "a", "m:v1"), ("load", "b", "m:v1")]
    await loaded(rig)
    await apply(rig, spec("m", 1 * Gi, replicas=1))
    assert await reconcile(rig) == [("unload", "b", "m:v1")]
    # Scaled back up before b answers. b still holds a replica of m:v1 (unloading), which must
    # neither count as a second replica nor be confused with a new one: one new replica is
    # ordered, and b finishing its unload does not erase it.
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    orders = await reconcile(rig)
    await unloaded(rig)  # b finishes the unload it was ordered
    orders += await reconcile(rig)
    loads = [o for o in orders if o[0] == "load"]
    assert len(loads) == 1, orders
    placed = sorted((r.server, r.state) for r in rig.state.replicas_of("m") if r.state in PLACED)
    assert placed == [("a", S.AVAILABLE), (loads[0][1], S.LOAD_REQUESTED)]


async def test_applying_again_while_the_unload_is_under_way_loads_the_model_once() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    assert await reconcile(rig) == [("load", "a", "m:v1")]
    await loaded(rig)
    await request_unload(rig.core, "m")
    assert await reconcile(rig) == [("unload", "a", "m:v1")]
    assert await apply(rig, spec("m", 1 * Gi)) == Applied(1, True)  # changed my mind
    orders = await reconcile(rig)
    await unloaded(rig)  # a finishes the unload it was ordered
    orders += await reconcile(rig)
    loads = [o for o in orders if o[0] == "load"]
    assert len(loads) == 1, orders
    assert replica_states(rig, "m") == [(loads[0][1], 1, S.LOAD_REQUESTED)]


# ---- (10) anti-affinity -----------------------------------------------------------------------


async def test_one_replica_of_a_version_per_server() -> None:
    rig = make_core()
    await register(rig, "a", 8 * Gi)
    await register(rig, "b", 8 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=3))
    assert await reconcile(rig) == [("load", "a", "m:v1"), ("load", "b", "m:v1")]
    assert verdict(rig, "m") == (M.PROGRESSING, PARTIAL, 0)
    assert status(rig, "m").reason == (
        "2 of 3 replicas placed: remaining servers already hold a replica of this version"
    )
    await loaded(rig)
    assert await reconcile(rig) == []
    assert await reconcile(rig) == []
    assert [(r.server, r.state) for r in rig.state.replicas_of("m")] == [
        ("a", S.AVAILABLE),
        ("b", S.AVAILABLE),
    ]
    await register(rig, "c", 2 * Gi)
    assert await reconcile(rig) == [("load", "c", "m:v1")]
    await loaded(rig)
    await reconcile(rig)
    assert verdict(rig, "m") == (M.AVAILABLE, FULL, 3)


# ---- (11) GPU, pin, capabilities --------------------------------------------------------------


async def test_gpu_models_go_to_a_device_with_room() -> None:
    rig = make_core()
    await register(rig, "a-cpu", 16 * Gi)
    await register(rig, "b-small", 8 * Gi, gpus=[1 * Gi])
    await register(rig, "c-big", 8 * Gi, gpus=[1 * Gi, 4 * Gi])
    # g1 needs 2Gi of GPU: only c-big's device 1 (4Gi) has it; best fit picks that device.
    await apply(rig, spec("g1", 1 * Gi, gpu_memory=2 * Gi))
    # A CPU model goes to the server without a GPU (GPU reserve), keeping GPU servers free.
    await apply(rig, spec("c1", 1 * Gi))
    # g2 needs 3Gi of GPU: c-big's device 1 has 2Gi left, b-small's 1Gi, a-cpu has none.
    await apply(rig, spec("g2", 1 * Gi, gpu_memory=3 * Gi))
    assert await reconcile(rig) == [("load", "c-big", "g1:v1"), ("load", "a-cpu", "c1:v1")]
    gpu_orders = [(s, o.gpu) for s, o in rig.sink.sent if isinstance(o, LoadOrder)]
    assert gpu_orders == [("c-big", 1), ("a-cpu", None)]
    record = rig.state.replicas[ReplicaId("g1", 1, "c-big")]
    assert (record.gpu, record.gpu_memory_bytes, record.memory_bytes) == (1, 2 * Gi, 1 * Gi)
    assert verdict(rig, "g2") == (M.SCHEDULE_FAILED, FAILED, 0)
    assert status(rig, "g2").reason == (
        f"needs 3Gi of GPU per replica (3Gi {X} 1 worker), largest free GPU is 2Gi on server "
        "c-big gpu 1; 1 server has no GPU"
    )


async def test_pin_to_a_pool_is_honoured() -> None:
    rig = make_core()
    await register(rig, "a", 8 * Gi, pool="cpu")
    await register(rig, "b", 2 * Gi, pool="fast")
    await apply(rig, spec("p1", 1 * Gi, server="fast"))  # a is larger, but not in the pool
    await apply(rig, spec("p2", 1 * Gi, server="nowhere"))
    await apply(rig, spec("p3", 4 * Gi, server="fast"))
    assert await reconcile(rig) == [("load", "b", "p1:v1")]
    assert status(rig, "p2").reason == "pinned to pool 'nowhere' which has no servers"
    assert status(rig, "p3").reason == (
        f"needs 4Gi per replica (4Gi {X} 1 worker), largest free is 1Gi on server b"
    )
    assert verdict(rig, "p2")[1] is FAILED and verdict(rig, "p3")[1] is FAILED


async def test_requirements_must_be_a_subset_of_capabilities() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi, capabilities=["torch", "sklearn"])
    await register(rig, "b", 8 * Gi, capabilities=["torch"])
    await apply(rig, spec("r1", 1 * Gi, requirements=["sklearn"]))  # b is larger but lacks it
    await apply(rig, spec("r2", 1 * Gi, requirements=["gpu"]))
    await apply(rig, spec("r3", 1 * Gi, requirements=["torch", "onnx"]))
    assert await reconcile(rig) == [("load", "a", "r1:v1")]
    assert verdict(rig, "r2") == (M.SCHEDULE_FAILED, FAILED, 0)
    assert status(rig, "r2").reason == "no server has capability gpu"
    assert status(rig, "r3").reason == "no server has capability onnx"


# ---- what a pass does not do --------------------------------------------------------------------


async def test_nothing_is_placed_without_servers_and_a_pass_is_idempotent() -> None:
    rig = make_core()
    await apply(rig, spec("m", 1 * Gi))
    assert await reconcile(rig) == []
    assert verdict(rig, "m") == (M.SCHEDULE_FAILED, FAILED, 0)
    assert status(rig, "m").reason == "no servers registered"
    await register(rig, "a", 2 * Gi)
    assert await reconcile(rig) == [("load", "a", "m:v1")]
    assert await reconcile(rig) == []  # a LoadRequested replica is not ordered twice


async def test_a_pass_that_changes_something_bumps_the_change_generation() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    before = rig.core.changes.generation
    await reconcile(rig)  # orders a load: a replica record is written
    assert rig.core.changes.generation == before + 1


async def test_a_quiet_pass_wakes_no_subscriber() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    await reconcile(rig)
    await loaded(rig)
    await reconcile(rig)
    before = rig.core.changes.generation
    await reconcile(rig)  # nothing left to do: subscribers would recompute for nothing
    assert rig.core.changes.generation == before
