"""Scheduler metrics: gauges recomputed from the records after each reconcile pass."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from scheduler.metrics import SchedulerMetrics
from scheduler.pipeline_admin import load_pipeline, unload_pipeline
from tests.scheduler.fakes import (
    Gi,
    Rig,
    beat,
    loaded,
    make_core,
    pipeline,
    reconcile,
    register,
    spec,
    step,
)
from tests.scheduler.fakes import apply as apply_spec


def sample(rig: Rig, name: str, **labels: str) -> float | None:
    return rig.registry.get_sample_value(name, labels)


def models(rig: Rig, state: str, scheduling: str) -> float | None:
    return sample(rig, "loadmaster_scheduler_models", state=state, scheduling=scheduling)


def pipelines(rig: Rig, state: str) -> float | None:
    return sample(rig, "loadmaster_scheduler_pipelines", state=state)


def memory(rig: Rig, server: str) -> tuple[float | None, float | None, float | None]:
    name = "loadmaster_scheduler_server_memory_bytes"
    return (
        sample(rig, name, server=server, kind="capacity"),
        sample(rig, name, server=server, kind="used"),
        sample(rig, name, server=server, kind="free"),
    )


async def fleet() -> Rig:
    rig = make_core()
    await register(rig, "a", 4 * Gi, overcommit=50)  # 6Gi usable
    await register(rig, "b", 2 * Gi)
    # m1 1Gi x2: empty servers, larger first -> a (6Gi usable), b. Then m2 5Gi: a has 5Gi
    # left -> a. m3 8Gi fits nowhere.
    await apply_spec(rig, spec("m1", 1 * Gi, replicas=2))
    await apply_spec(rig, spec("m2", 5 * Gi))
    await apply_spec(rig, spec("m3", 8 * Gi))
    return rig


async def test_gauges_after_a_pass() -> None:
    rig = await fleet()
    assert await reconcile(rig) == [
        ("load", "a", "m1:v1"),
        ("load", "b", "m1:v1"),
        ("load", "a", "m2:v1"),
    ]
    assert models(rig, "ModelProgressing", "Full") == 2.0
    assert models(rig, "ScheduleFailed", "Failed") == 1.0
    assert models(rig, "ModelAvailable", "Full") is None
    assert memory(rig, "a") == (6.0 * Gi, 6.0 * Gi, 0.0)
    assert memory(rig, "b") == (2.0 * Gi, 1.0 * Gi, 1.0 * Gi)
    assert sample(rig, "loadmaster_scheduler_servers", state="Ready") == 2.0
    assert sample(rig, "loadmaster_scheduler_orders_total", kind="load") == 3.0
    assert sample(rig, "loadmaster_scheduler_orders_total", kind="unload") is None
    assert sample(rig, "loadmaster_scheduler_placement_decisions_total", scheduling="Full") == 2.0
    assert sample(rig, "loadmaster_scheduler_placement_decisions_total", scheduling="Failed") == 1.0
    assert sample(rig, "loadmaster_scheduler_placement_decision_seconds_count") == 3.0

    await loaded(rig)
    await reconcile(rig)
    assert models(rig, "ModelAvailable", "Full") == 2.0
    assert models(rig, "ModelProgressing", "Full") is None  # stale label sets are cleared
    assert models(rig, "ScheduleFailed", "Failed") == 1.0
    # m1 and m2 went from "add" to "keep", a new decision each; m3's did not change.
    assert sample(rig, "loadmaster_scheduler_placement_decisions_total", scheduling="Full") == 4.0
    assert sample(rig, "loadmaster_scheduler_placement_decisions_total", scheduling="Failed") == 1.0
    await reconcile(rig)
    assert sample(rig, "loadmaster_scheduler_placement_decisions_total", scheduling="Full") == 4.0
    assert sample(rig, "loadmaster_scheduler_placement_decision_seconds_count") == 9.0


async def test_a_lost_server_holds_nothing() -> None:
    rig = await fleet()
    await reconcile(rig)
    await loaded(rig)
    rig.clock.advance(5.5)
    await beat(rig, "a")
    await reconcile(rig)  # b is lost; m1's second replica has nowhere to go
    assert sample(rig, "loadmaster_scheduler_servers", state="Ready") == 1.0
    assert sample(rig, "loadmaster_scheduler_servers", state="Lost") == 1.0
    assert memory(rig, "b") == (2.0 * Gi, 0.0, 2.0 * Gi)
    assert memory(rig, "a") == (6.0 * Gi, 6.0 * Gi, 0.0)
    assert models(rig, "ModelAvailable", "Partial") == 1.0
    assert models(rig, "ModelAvailable", "Full") == 1.0


def test_metrics_use_the_registry_they_are_given() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    SchedulerMetrics(first).set_models([("ModelAvailable", "Full"), ("ModelAvailable", "Full")])
    SchedulerMetrics(second)
    labels = {"state": "ModelAvailable", "scheduling": "Full"}
    assert first.get_sample_value("loadmaster_scheduler_models", labels) == 2.0
    assert second.get_sample_value("loadmaster_scheduler_models", labels) is None


def test_set_servers_replaces_the_previous_picture() -> None:
    registry = CollectorRegistry()
    metrics = SchedulerMetrics(registry)
    metrics.set_servers([("a", "Ready", 100, 30), ("b", "Draining", 50, 60)])
    get = registry.get_sample_value
    name = "loadmaster_scheduler_server_memory_bytes"
    assert get(name, {"server": "b", "kind": "free"}) == 0.0  # over-full: none free, not -10
    assert get("loadmaster_scheduler_servers", {"state": "Draining"}) == 1.0
    metrics.set_servers([("a", "Ready", 100, 0)])
    assert get(name, {"server": "b", "kind": "used"}) is None
    assert get("loadmaster_scheduler_servers", {"state": "Draining"}) is None
    assert get(name, {"server": "a", "kind": "free"}) == 100.0


async def test_pipelines_by_state_after_a_pass() -> None:
    rig = await fleet()
    for name, steps in (("p1", ("m1",)), ("p2", ("m1", "m2")), ("p3", ("m3",))):
        chain = [step(steps[0]), *(step(s, s, steps[0]) for s in steps[1:])]
        await load_pipeline(rig.core, pipeline(name, *chain))
    await reconcile(rig)
    assert pipelines(rig, "PipelineWaiting") == 3.0
    await loaded(rig)
    await reconcile(rig)  # m1 and m2 serve; m3 fits nowhere
    assert pipelines(rig, "PipelineReady") == 2.0
    assert pipelines(rig, "PipelineWaiting") == 1.0
    await unload_pipeline(rig.core, "p3")
    await reconcile(rig)
    assert pipelines(rig, "PipelineWaiting") is None  # stale label sets are cleared
