"""Stop ordering and escalation: the gateway first, etcd last, SIGKILL only after the grace."""

from __future__ import annotations

from loadmaster.local_cluster.parts import PartKind
from loadmaster.local_cluster.processes import Handle
from loadmaster.local_cluster.stopping import stop_all, stop_groups
from tests.loadmaster.local_cluster.fakes import Cast, FakeHandle


def _as_handles(parts: list[tuple[PartKind, FakeHandle]]) -> list[tuple[PartKind, Handle]]:
    return list(parts)


def test_parts_stop_in_dependency_order_whatever_order_they_started_in() -> None:
    cast = Cast()
    parts = cast.cluster()
    outcome = stop_all(_as_handles(parts), grace_s=10, clock=cast.clock, sleep=cast.clock.sleep)
    terms = [e for e in cast.events if e.startswith("term")]
    assert terms == [
        "term gateway",
        "term agent-1",
        "term agent-2",
        "term scheduler",
        "term kafka",
        "term etcd",
    ]
    assert outcome.killed == ()
    assert set(outcome.stopped) == {h.name for _, h in parts}
    assert all(not h.running() for _, h in parts)


def test_agents_are_stopped_together_before_any_of_them_is_waited_for() -> None:
    cast = Cast()
    slow = cast.handle("agent-1", ignores_term=True)
    fast = cast.handle("agent-2")
    stop_all([(PartKind.AGENT, slow), (PartKind.AGENT, fast)], 5, cast.clock, cast.clock.sleep)
    assert cast.events[:2] == ["term agent-1", "term agent-2"]


def test_a_part_that_ignores_sigterm_is_killed_after_the_grace_and_the_next_group_waits() -> None:
    cast = Cast()
    gateway = cast.handle("gateway", ignores_term=True)
    etcd = cast.handle("etcd")
    start = cast.clock()
    outcome = stop_all(
        [(PartKind.ETCD, etcd), (PartKind.GATEWAY, gateway)], 3, cast.clock, cast.clock.sleep
    )
    assert outcome.killed == ("gateway",)
    assert outcome.stopped == ("etcd",)
    assert cast.events.index("kill gateway") < cast.events.index("term etcd")
    assert cast.clock() - start >= 3  # the grace was given before the kill


def test_hurry_skips_the_rest_of_the_grace() -> None:
    cast = Cast()
    stubborn = cast.handle("gateway", ignores_term=True)
    outcome = stop_all(
        [(PartKind.GATEWAY, stubborn)], 60, cast.clock, cast.clock.sleep, hurry=lambda: True
    )
    assert outcome.killed == ("gateway",)
    assert cast.clock.slept < 60


def test_a_part_already_gone_gets_no_sigterm_but_its_group_is_swept() -> None:
    cast = Cast()
    dead = cast.handle("agent-1", status=1)
    outcome = stop_all([(PartKind.AGENT, dead)], 5, cast.clock, cast.clock.sleep)
    assert cast.events == ["kill agent-1"]
    assert outcome.stopped == outcome.killed == ()


def test_stop_groups_are_ranked_gateway_agents_scheduler_broker_etcd() -> None:
    cast = Cast()
    groups = stop_groups(_as_handles(cast.cluster()))
    names = [[h.name for h in group] for group in groups]
    assert names == [["gateway"], ["agent-1", "agent-2"], ["scheduler"], ["kafka"], ["etcd"]]
