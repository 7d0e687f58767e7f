"""Agent events: drain, re-registration after a scheduler restart, failed loads, odd reports.

Expected servers follow the default policy as worked out in test_reconcile.py's docstring.
"""

from __future__ import annotations

from loadmaster.model_state import ModelState, ServerState
from loadmaster.replica_state import ReplicaState
from scheduler import agent_events
from scheduler.cluster import ClusterState
from scheduler.config import SchedulerConfig
from scheduler.model_admin import request_unload
from scheduler.orders import HeldReplica, LoadOrder, ReplicaEvent, UnloadOrder
from scheduler.placement import Scheduling
from scheduler.records import ReplicaId
from tests.scheduler.fakes import (
    FakeClock,
    Gi,
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
)

S = ReplicaState
M = ModelState
FULL, PARTIAL = Scheduling.FULL, Scheduling.PARTIAL


def server_state(rig: Rig, name: str) -> ServerState:
    return rig.state.servers[name].state


# ---- (7) drain --------------------------------------------------------------------------------


async def test_drain_moves_replicas_before_unloading_them() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await register(rig, "b", 2 * Gi)
    # m1 1Gi: empty servers, larger first -> a (a3). m2 1Gi: a in use (left 2: 0.75) beats
    # b empty (left 1: 0.125) -> a.
    await apply(rig, spec("m1", 1 * Gi))
    await apply(rig, spec("m2", 1 * Gi))
    assert await reconcile(rig) == [("load", "a", "m1:v1"), ("load", "a", "m2:v1")]
    await loaded(rig)
    assert await reconcile(rig) == []

    await agent_events.on_draining(rig.core, "a", done=False)
    assert server_state(rig, "a") is ServerState.DRAINING
    # Replacements go to b; a's replicas stay until they are Available; a hears what waits.
    assert await reconcile(rig) == [
        ("load", "b", "m1:v1"),
        ("load", "b", "m2:v1"),
        ("drain", "a", "m1,m2"),
    ]
    assert status(rig, "m1").state is M.AVAILABLE
    await report(rig, "b", "m1", 1, S.LOADING)
    await report(rig, "b", "m2", 1, S.LOADING)
    assert await reconcile(rig) == []  # nothing new to say to a
    await report(rig, "b", "m1", 1, S.AVAILABLE)
    assert await reconcile(rig) == [("unload", "a", "m1:v1"), ("drain", "a", "m2")]
    assert status(rig, "m2").state is M.AVAILABLE
    await report(rig, "b", "m2", 1, S.AVAILABLE)
    assert await reconcile(rig) == [("unload", "a", "m2:v1"), ("drain", "a", "")]
    assert await reconcile(rig) == []
    assert (status(rig, "m1").state, status(rig, "m2").state) == (M.AVAILABLE, M.AVAILABLE)

    await agent_events.on_draining(rig.core, "a", done=True)
    assert server_state(rig, "a") is ServerState.LOST
    assert rig.sink.disconnects == ["a"]
    assert rig.state.replicas_on("a") == []  # its unloading replicas count nowhere now
    assert await reconcile(rig) == []
    assert replica_states(rig, "m1") == [("b", 1, S.AVAILABLE)]
    assert replica_states(rig, "m2") == [("b", 1, S.AVAILABLE)]


async def test_drain_keeps_the_replica_whose_replacement_failed_to_load() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("m1", 1 * Gi))
    assert await reconcile(rig) == [("load", "a", "m1:v1")]
    await loaded(rig)
    await agent_events.on_draining(rig.core, "a", done=False)
    assert await reconcile(rig) == [("load", "b", "m1:v1"), ("drain", "a", "m1")]
    await report(rig, "b", "m1", 1, S.LOADING)
    await report(rig, "b", "m1", 1, S.LOAD_FAILED, reason="out of memory")
    # The replacement failed: a's replica is the only one serving, so it stays, and a keeps
    # hearing that m1 still needs it.
    assert await reconcile(rig) == []
    assert replica_states(rig, "m1") == [("a", 1, S.AVAILABLE), ("b", 1, S.LOAD_FAILED)]
    st = status(rig, "m1")
    assert (st.state, st.available_replicas) == (M.FAILED, 1)
    assert st.reason == "load failed on server b: out of memory"


async def test_a_draining_server_takes_no_new_replicas() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await register(rig, "b", 1 * Gi)
    await agent_events.on_draining(rig.core, "a", done=False)
    await apply(rig, spec("m", 2 * Gi))
    assert await reconcile(rig) == [("drain", "a", "")]
    assert status(rig, "m").reason == (
        "1 server is draining; needs 2Gi per replica (2Gi \N{MULTIPLICATION SIGN} 1 worker), "
        "largest free is 1Gi on server b"
    )


async def test_drain_of_an_unknown_server_does_nothing() -> None:
    rig = make_core()
    await agent_events.on_draining(rig.core, "ghost", done=False)
    await agent_events.on_draining(rig.core, "ghost", done=True)
    assert rig.state.servers == {}
    assert rig.sink.disconnects == []


# ---- (8) scheduler restart --------------------------------------------------------------------


async def running() -> Rig:
    """a and b (2Gi each) serve m (1Gi x2); all state is in the store."""
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    assert await reconcile(rig) == [("load", "a", "m:v1"), ("load", "b", "m:v1")]
    await loaded(rig)
    assert await reconcile(rig) == []
    return rig


async def restarted(old: Rig, config: SchedulerConfig | None = None) -> Rig:
    """A second scheduler on the first one's store, as after kill -9."""
    state = await ClusterState.load(old.store)
    return make_core(store=old.store, state=state, config=config, clock=FakeClock(5000.0))


HELD_M = (HeldReplica("m", 1, S.AVAILABLE),)


async def test_restart_waits_for_agents_and_reloads_nothing() -> None:
    new = await restarted(await running())
    assert new.core.in_grace
    assert await reconcile(new) == []  # a and b have not re-registered yet
    assert new.core.in_grace
    assert status(new, "m").state is M.AVAILABLE  # from the stored records alone
    new.clock.advance(1.0)
    await register(new, "a", 2 * Gi, held=HELD_M)
    assert await reconcile(new) == []  # b is still expected
    assert new.core.in_grace
    await register(new, "b", 2 * Gi, held=HELD_M)
    assert await reconcile(new) == []
    assert not new.core.in_grace
    assert new.sink.sent == [] and new.sink.dropped == []
    st = status(new, "m")
    assert (st.state, st.scheduling, st.available_replicas) == (M.AVAILABLE, FULL, 2)
    assert replica_states(new, "m") == [("a", 1, S.AVAILABLE), ("b", 1, S.AVAILABLE)]


async def test_restart_unloads_a_held_replica_nobody_wants() -> None:
    new = await restarted(await running())
    held = (*HELD_M, HeldReplica("ghost", 1, S.AVAILABLE), HeldReplica("m", 9, S.LOADING))
    await register(new, "a", 2 * Gi, held=held)
    assert brief(new.sink.sent) == [("unload", "a", "ghost:v1"), ("unload", "a", "m:v9")]
    await report(new, "a", "ghost", 1, S.UNLOADING, S.UNLOADED)
    await register(new, "b", 2 * Gi, held=HELD_M)
    assert await reconcile(new) == []
    assert set(new.state.models) == {"m"}
    assert replica_states(new, "m") == [("a", 1, S.AVAILABLE), ("b", 1, S.AVAILABLE)]
    assert replica_states(new, "ghost") == []


async def test_restart_resends_a_load_the_agent_never_received() -> None:
    old = await running()
    # n 1Gi: a and b are both in use with 1Gi left: a tie, a first.
    await apply(old, spec("n", 1 * Gi))
    assert await reconcile(old) == [("load", "a", "n:v1")]  # sent, never answered
    new = await restarted(old)
    await register(new, "a", 2 * Gi, held=HELD_M)
    sent = new.sink.take()
    assert brief(sent) == [("load", "a", "n:v1")]
    order = sent[0][1]
    assert isinstance(order, LoadOrder) and order.storage_uri == "file:///models/n"
    await register(new, "b", 2 * Gi, held=HELD_M)
    assert await reconcile(new) == []  # re-sent once, not placed again
    assert replica_states(new, "n") == [("a", 1, S.LOAD_REQUESTED)]
    await loaded(new)
    assert status(new, "n").state is M.AVAILABLE


async def test_restart_forgets_an_available_replica_the_agent_lost_and_places_it_again() -> None:
    new = await restarted(await running())
    await register(new, "a", 2 * Gi, held=HELD_M)
    await register(new, "b", 2 * Gi)  # b restarted too and holds nothing
    assert replica_states(new, "m") == [("a", 1, S.AVAILABLE)]
    assert await reconcile(new) == [("load", "b", "m:v1")]


async def test_grace_ends_after_grace_s_and_a_missing_agent_is_lost_later() -> None:
    config = SchedulerConfig(heartbeat_timeout_s=5.0, startup_grace_s=2.0)
    new = await restarted(await running(), config)
    new.clock.advance(1.0)
    await register(new, "a", 2 * Gi, held=HELD_M)
    await apply(new, spec("n", 512 * 2**20))
    new.clock.advance(0.75)  # 1.75s after the start
    assert await reconcile(new) == []
    assert new.core.in_grace
    new.clock.advance(0.25)  # 2s: the grace is over although b never came back
    # n: a and b both in use with 1Gi free (b's record still says so): a tie, a first.
    assert await reconcile(new) == [("load", "a", "n:v1")]
    assert not new.core.in_grace
    assert new.state.servers["b"].state is ServerState.READY
    # A server known from the store has the grace plus one heartbeat timeout (7s) to return.
    new.clock.advance(4.75)  # 6.75s
    await beat(new, "a")
    assert await reconcile(new) == []
    assert new.state.servers["b"].state is ServerState.READY
    new.clock.advance(0.5)  # 7.25s
    await beat(new, "a")
    assert await reconcile(new) == []  # nowhere else for m's second replica
    assert new.state.servers["b"].state is ServerState.LOST
    assert new.sink.disconnects == ["b"]
    assert replica_states(new, "m") == [("a", 1, S.AVAILABLE), ("b", 1, S.LOST)]
    st = status(new, "m")
    assert (st.state, st.scheduling, st.available_replicas) == (M.AVAILABLE, PARTIAL, 1)


async def test_default_grace_is_at_least_ten_seconds() -> None:
    new = await restarted(await running())
    await register(new, "a", 2 * Gi, held=HELD_M)
    new.clock.advance(9.75)
    await beat(new, "a")
    assert await reconcile(new) == []
    assert new.core.in_grace
    new.clock.advance(0.25)
    await beat(new, "a")
    assert await reconcile(new) == []
    assert not new.core.in_grace
    new.clock.advance(4.75)  # 14.75s: within the grace plus the 5s timeout
    await beat(new, "a")
    await reconcile(new)
    assert new.state.servers["b"].state is ServerState.READY
    new.clock.advance(0.5)  # 15.25s
    await beat(new, "a")
    await reconcile(new)
    assert new.state.servers["b"].state is ServerState.LOST


# ---- (9) failed loads -------------------------------------------------------------------------


async def test_load_failed_fails_the_version_until_the_spec_is_applied_again() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    assert await reconcile(rig) == [("load", "a", "m:v1")]
    await report(rig, "a", "m", 1, S.LOADING)
    await report(rig, "a", "m", 1, S.LOAD_FAILED, reason="no such file")
    st = status(rig, "m")
    assert (st.state, st.reason) == (M.FAILED, "load failed on server a: no such file")
    assert rig.state.versions[("m", 1)].failed_reason == "load failed on server a: no such file"
    assert await reconcile(rig) == []  # b has room, but the version failed
    assert await reconcile(rig) == []
    assert status(rig, "m").state is M.FAILED

    applied = await apply(rig, spec("m", 1 * Gi))
    assert (applied.version, applied.changed) == (1, True)
    assert rig.state.versions[("m", 1)].failed_reason == ""
    assert replica_states(rig, "m") == []
    assert status(rig, "m").state is M.PROGRESSING
    assert await reconcile(rig) == [("load", "a", "m:v1")]  # the retry may use a again
    await loaded(rig)
    assert status(rig, "m").state is M.AVAILABLE


async def test_load_failed_without_a_reason_says_so() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    await reconcile(rig)
    await report(rig, "a", "m", 1, S.LOADING, S.LOAD_FAILED)
    assert status(rig, "m").reason == "load failed on server a: no reason given"


async def test_a_second_failure_keeps_the_first_reason() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    await reconcile(rig)
    await report(rig, "b", "m", 1, S.LOAD_FAILED, reason="out of memory")
    await report(rig, "a", "m", 1, S.LOAD_FAILED, reason="bad weights")
    assert status(rig, "m").reason == "load failed on server b: out of memory"


# ---- other reports ----------------------------------------------------------------------------


async def test_a_load_finished_after_the_model_was_unloaded_is_unloaded() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    await reconcile(rig)
    await agent_events.on_event(rig.core, "a", ReplicaEvent("m", 1, S.LOADING))
    await request_unload(rig.core, "m")
    assert await reconcile(rig) == [("unload", "a", "m:v1")]
    await report(rig, "a", "m", 1, S.AVAILABLE)  # the load finishes anyway
    assert brief(rig.sink.take()) == [("unload", "a", "m:v1")]
    assert rig.state.replicas[ReplicaId("m", 1, "a")].state is S.UNLOAD_REQUESTED


async def test_an_unexpected_transition_is_recorded_as_the_agent_reports_it() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    await reconcile(rig)
    await report(rig, "a", "m", 1, S.AVAILABLE)  # LoadRequested -> Available skips Loading
    assert replica_states(rig, "m") == [("a", 1, S.AVAILABLE)]


async def test_events_for_unknown_replicas_are_ignored_or_adopted() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi, workers=2)
    await apply(rig, spec("m", 512 * 2**20))
    await report(rig, "a", "ghost", 1, S.UNLOADING)  # nothing known: ignored
    await report(rig, "nowhere", "m", 1, S.AVAILABLE)  # unknown server: ignored
    assert rig.state.replicas == {}
    # A load the scheduler does not know of (from before a restart) is adopted as it is, at
    # the cost it has on that server: 512Mi x 2 workers.
    await report(rig, "a", "m", 1, S.AVAILABLE)
    record = rig.state.replicas[ReplicaId("m", 1, "a")]
    assert (record.state, record.memory_bytes, record.workers) == (S.AVAILABLE, Gi, 2)
    assert rig.sink.sent == []


async def test_a_late_event_from_a_lost_server_does_not_revive_its_replica() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    assert await reconcile(rig) == [("load", "a", "m:v1"), ("load", "b", "m:v1")]
    await report(rig, "a", "m", 1, S.LOADING, S.AVAILABLE)
    await report(rig, "b", "m", 1, S.LOADING)
    rig.clock.advance(6.0)
    await beat(rig, "a")
    assert await reconcile(rig) == []
    assert server_state(rig, "b") is ServerState.LOST
    # An event b sent before its stream was closed is handled after the loss: b holds nothing
    # the scheduler counts on until it registers again (ServerState.LOST).
    await report(rig, "b", "m", 1, S.AVAILABLE)
    assert replica_states(rig, "m") == [("a", 1, S.AVAILABLE), ("b", 1, S.LOST)]
    assert status(rig, "m").available_replicas == 1


async def test_unloaded_removes_the_record() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    await reconcile(rig)
    await report(rig, "a", "m", 1, S.UNLOADED)
    assert rig.state.replicas == {}


async def test_registration_records_the_server_and_starts_its_heartbeat() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi, pool="p", capabilities=["torch"], gpus=[Gi], workers=0)
    server = rig.state.servers["a"]
    assert (server.pool, server.capabilities, server.parallel_workers) == (
        "p",
        frozenset({"torch"}),
        1,
    )
    assert server.http_endpoint == "http://a:9000" and server.state is ServerState.READY
    assert rig.core.liveness.silent_for("a") == 0.0
    rig.clock.advance(3.0)
    await beat(rig, "a")
    assert rig.core.liveness.silent_for("a") == 0.0


async def test_unload_order_fields() -> None:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await apply(rig, spec("m", 1 * Gi))
    await reconcile(rig)
    await loaded(rig)
    await request_unload(rig.core, "m")
    await reconcile(rig)
    assert rig.sink.sent[-1] == ("a", UnloadOrder(order_id=2, model="m", version=1))
