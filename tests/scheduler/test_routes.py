"""The route table gateways follow: only Available replicas on servers that are not Lost."""

from __future__ import annotations

from scheduler.routes import route_table
from tests.scheduler.fakes import (
    FakeClock,
    Gi,
    Rig,
    apply,
    beat,
    loaded,
    make_core,
    reconcile,
    register,
    spec,
)


def table(rig: Rig) -> dict[str, tuple[str, list[tuple[str, int, str]]]]:
    """model -> (state, [(server, version, http endpoint)])."""
    return {
        r.model: (r.state, [(e.server, e.version, e.http_endpoint) for e in r.endpoints])
        for r in route_table(rig.core)
    }


async def test_only_available_replicas_are_routed() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await register(rig, "b", 4 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    await apply(rig, spec("big", 8 * Gi))
    await reconcile(rig)
    # Loads ordered, none Available yet: the model is known, with no endpoint.
    assert table(rig)["m"] == ("ModelProgressing", [])
    await loaded(rig)
    assert table(rig) == {
        "big": ("ScheduleFailed", []),
        "m": ("ModelAvailable", [("a", 1, "http://a:9000"), ("b", 1, "http://b:9000")]),
    }
    [big] = [r for r in route_table(rig.core) if r.model == "big"]
    assert big.reason.startswith("needs 8Gi per replica")


async def test_a_lost_server_leaves_the_table() -> None:
    clock = FakeClock()
    rig = make_core(clock=clock)
    await register(rig, "a", 4 * Gi)
    await register(rig, "b", 4 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    await reconcile(rig)
    await loaded(rig)
    clock.advance(rig.core.config.heartbeat_timeout_s + 1)
    await beat(rig, "a")
    await reconcile(rig)
    assert table(rig)["m"][1] == [("a", 1, "http://a:9000")]


async def test_a_replica_leaves_the_table_when_its_unload_is_ordered() -> None:
    rig = make_core()
    await register(rig, "a", 4 * Gi)
    await register(rig, "b", 4 * Gi)
    await apply(rig, spec("m", 1 * Gi, replicas=2))
    await reconcile(rig)
    await loaded(rig)
    await apply(rig, spec("m", 1 * Gi, replicas=1))
    orders = await reconcile(rig)
    assert [o[0] for o in orders] == ["unload"]
    # The unload is only ordered (the agent has not answered): already out of the table.
    assert len(table(rig)["m"][1]) == 1
