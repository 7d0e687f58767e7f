"""apply_spec and request_unload: what a spec change does to the stored records."""

from __future__ import annotations

import pytest

from loadmaster.model_state import ModelState
from loadmaster.replica_state import ReplicaState
from loadmaster.resources import ModelSpec
from scheduler.cluster import ClusterState
from scheduler.model_admin import Applied, InvalidSpec, UnknownModel, request_unload
from scheduler.records import ModelRecord, VersionRecord
from tests.scheduler.fakes import (
    Gi,
    Rig,
    apply,
    loaded,
    make_core,
    reconcile,
    register,
    report,
    spec,
    status,
    unloaded,
)

S = ReplicaState


async def test_created() -> None:
    rig = make_core()
    first = spec("iris", Gi, replicas=2)
    generation = rig.core.changes.generation
    assert await apply(rig, first) == Applied(1, True)
    assert rig.state.models == {"iris": ModelRecord(first, 1, seq=1)}
    assert rig.state.versions == {("iris", 1): VersionRecord(first, 1)}
    assert rig.core.changes.generation == generation + 1  # subscribers wake
    assert await apply(rig, spec("mnist", Gi)) == Applied(1, True)
    assert rig.state.models["mnist"].seq == 2
    stored = await ClusterState.load(rig.store)
    assert stored.models == rig.state.models and stored.versions == rig.state.versions


async def test_unchanged() -> None:
    rig = make_core()
    await apply(rig, spec("iris", Gi))
    revision = rig.store.revision
    generation = rig.core.changes.generation
    assert await apply(rig, spec("iris", Gi)) == Applied(1, False)
    assert rig.store.revision == revision  # nothing written
    assert rig.core.changes.generation == generation


@pytest.mark.parametrize(
    "changed",
    [
        spec("iris", 2 * Gi),
        spec("iris", Gi, replicas=3),
        spec("iris", Gi, replicas=3, min_replicas=2),
        spec("iris", Gi, requirements=["torch"]),
        spec("iris", Gi, server="pool"),
        spec("iris", Gi, gpu_memory=Gi),
        spec("iris", Gi, instances=2),
    ],
    ids=["memory", "replicas", "minReplicas", "requirements", "pin", "gpuMemory", "instances"],
)
async def test_updated_in_place(changed: ModelSpec) -> None:
    rig = make_core()
    await apply(rig, spec("iris", Gi))
    assert await apply(rig, changed) == Applied(1, True)
    assert rig.state.models["iris"] == ModelRecord(changed, 1, seq=1)
    assert rig.state.versions == {("iris", 1): VersionRecord(changed, 1)}


@pytest.mark.parametrize(
    "changed",
    [
        spec("iris", Gi, uri="s3://bucket/iris-2"),
        spec("iris", Gi, parameters=[("max_batch_size", "16")]),
    ],
    ids=["storageUri", "parameters"],
)
async def test_new_version(changed: ModelSpec) -> None:
    rig = make_core()
    first = spec("iris", Gi)
    await apply(rig, first)
    await apply(rig, spec("other", Gi))
    assert await apply(rig, changed) == Applied(2, True)
    assert rig.state.models["iris"] == ModelRecord(changed, 2, seq=1)  # keeps its place
    assert rig.state.versions[("iris", 1)] == VersionRecord(first, 1)
    assert rig.state.versions[("iris", 2)] == VersionRecord(changed, 2)
    again = spec("iris", Gi, uri="s3://bucket/iris-3")
    assert await apply(rig, again) == Applied(3, True)


async def test_invalid_spec_names_the_fields_and_stores_nothing() -> None:
    rig = make_core()
    with pytest.raises(InvalidSpec) as caught:
        await apply(rig, spec("iris", Gi, replicas=2, min_replicas=3))
    assert str(caught.value) == "spec.minReplicas: 3 is above spec.replicas (2)"
    with pytest.raises(InvalidSpec) as caught:
        await apply(rig, spec("", -1, uri=""))
    assert str(caught.value) == (
        "metadata.name: must not be empty; spec.storageUri: must not be empty; "
        "spec.memory: must not be negative"
    )
    assert rig.state.models == {} and rig.state.versions == {}
    assert rig.store.revision == 1


async def test_request_unload_of_an_unknown_model() -> None:
    rig = make_core()
    with pytest.raises(UnknownModel) as caught:
        await request_unload(rig.core, "ghost")
    assert str(caught.value) == "model 'ghost' not found"


async def serving() -> Rig:
    rig = make_core()
    await register(rig, "a", 2 * Gi)
    await register(rig, "b", 2 * Gi)
    await apply(rig, spec("iris", Gi, replicas=2))
    await reconcile(rig)
    await loaded(rig)
    await reconcile(rig)
    return rig


async def test_unload_then_unloaded_events_remove_the_model() -> None:
    rig = await serving()
    await request_unload(rig.core, "iris")
    assert rig.state.models["iris"].deleting
    await request_unload(rig.core, "iris")  # asking twice is fine
    assert status(rig, "iris").state is ModelState.TERMINATING
    assert await reconcile(rig) == [("unload", "a", "iris:v1"), ("unload", "b", "iris:v1")]
    await report(rig, "a", "iris", 1, S.UNLOADING, S.UNLOADED)
    assert await reconcile(rig) == []
    assert "iris" in rig.state.models  # b still unloading
    await report(rig, "b", "iris", 1, S.UNLOADING, S.UNLOADED)
    assert await reconcile(rig) == []
    assert rig.state.models == {} and rig.state.versions == {} and rig.state.replicas == {}
    stored = await ClusterState.load(rig.store)
    assert stored.models == {} and stored.versions == {} and stored.replicas == {}


async def test_applying_again_during_an_unload_keeps_the_model() -> None:
    rig = await serving()
    await request_unload(rig.core, "iris")
    assert await apply(rig, spec("iris", Gi, replicas=2)) == Applied(1, True)
    assert not rig.state.models["iris"].deleting
    assert await reconcile(rig) == []  # it never stopped serving
    assert status(rig, "iris").state is ModelState.AVAILABLE


async def test_a_model_applied_again_after_it_is_gone_starts_over() -> None:
    rig = await serving()
    await request_unload(rig.core, "iris")
    await reconcile(rig)
    await unloaded(rig)
    await reconcile(rig)
    assert await apply(rig, spec("iris", Gi, uri="file:///v2")) == Applied(1, True)
    assert set(rig.state.versions) == {("iris", 1)}
