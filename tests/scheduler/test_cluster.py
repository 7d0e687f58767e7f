"""ClusterState: records written through to the store, read back by a restart, CAS on writes."""

from __future__ import annotations

import pytest

from loadmaster.model_state import ServerState
from loadmaster.replica_state import ReplicaState
from scheduler.cluster import ClusterState
from scheduler.placement import GpuDevice
from scheduler.records import ModelRecord, ReplicaId, ReplicaRecord, ServerRecord, VersionRecord
from scheduler.store import Conflict, MemoryStore, encode, keys
from tests.scheduler.fakes import Gi, Mi, spec

S = ReplicaState


def server(
    name: str = "a",
    *,
    memory_bytes: int = 8 * Gi,
    capabilities: frozenset[str] = frozenset({"torch", "cuda"}),
    gpus: tuple[GpuDevice, ...] = (GpuDevice(0, 16 * Gi), GpuDevice(1, 24 * Gi)),
    state: ServerState = ServerState.DRAINING,
) -> ServerRecord:
    return ServerRecord(
        name=name,
        memory_bytes=memory_bytes,
        http_endpoint=f"http://{name}:9000",
        grpc_endpoint=f"{name}:9500",
        pool="gpu-pool",
        overcommit_percent=25,
        parallel_workers=2,
        capabilities=capabilities,
        gpus=gpus,
        state=state,
    )


async def filled() -> tuple[MemoryStore, ClusterState]:
    store = MemoryStore()
    state = ClusterState(store)
    v1 = spec("iris", 200 * Mi, 2, parameters=[("max_batch_size", "32")], requirements=["torch"])
    v2 = spec("iris", 200 * Mi, 2, uri="s3://bucket/iris-2", gpu_memory=Gi, server="gpu-pool")
    await state.put_version(VersionRecord(v1, 1, failed_reason="load failed on server a: x"))
    await state.put_version(VersionRecord(v2, 2))
    await state.put_model(ModelRecord(v2, 2, seq=3, deleting=True))
    await state.put_model(ModelRecord(spec("mnist", Gi), 1, seq=4))
    await state.put_version(VersionRecord(spec("mnist", Gi), 1))
    await state.put_server(server("a"))
    await state.put_server(server("b", gpus=(), state=ServerState.LOST, capabilities=frozenset()))
    await state.put_replica(
        ReplicaRecord("iris", 2, "a", S.LOADING, 400 * Mi, "", 1, 2 * Gi, workers=2)
    )
    await state.put_replica(ReplicaRecord("iris", 1, "b", S.LOST, 200 * Mi, "server lost"))
    await state.put_replica(ReplicaRecord("mnist", 1, "a", S.AVAILABLE, 2 * Gi, workers=2))
    return store, state


async def test_records_round_trip_through_load() -> None:
    store, state = await filled()
    again = await ClusterState.load(store)
    assert again.models == state.models
    assert again.versions == state.versions
    assert again.servers == state.servers
    assert again.replicas == state.replicas
    assert len(again.models) == 2 and len(again.versions) == 3
    assert len(again.servers) == 2 and len(again.replicas) == 3
    assert again.replicas[ReplicaId("iris", 2, "a")] == ReplicaRecord(
        "iris", 2, "a", S.LOADING, 400 * Mi, "", 1, 2 * Gi, 2
    )
    assert again.next_seq == 5


async def test_a_loaded_state_can_write_the_keys_it_read() -> None:
    store, _ = await filled()
    again = await ClusterState.load(store)
    await again.put_server(server("a", state=ServerState.READY))
    await again.delete_replica(ReplicaId("iris", 1, "b"))
    await again.put_model(ModelRecord(spec("new", Gi), 1, seq=again.next_seq))
    third = await ClusterState.load(store)
    assert third.servers["a"].state is ServerState.READY
    assert ReplicaId("iris", 1, "b") not in third.replicas
    assert third.models["new"].seq == 5


async def test_a_foreign_write_makes_the_next_write_of_that_key_conflict() -> None:
    store, state = await filled()
    await store.put(keys.server_key("a"), encode(server("a", memory_bytes=Gi)))
    with pytest.raises(Conflict):
        await state.put_server(server("a", state=ServerState.READY))
    # Other keys are still ours.
    await state.put_server(server("b", state=ServerState.READY))
    assert (await ClusterState.load(store)).servers["b"].state is ServerState.READY


async def test_a_foreign_write_makes_a_delete_of_that_key_conflict() -> None:
    store, state = await filled()
    record = state.replicas[ReplicaId("mnist", 1, "a")]
    await store.put(keys.replica_key("mnist", 1, "a"), encode(record))
    with pytest.raises(Conflict):
        await state.delete_replica(record.id)


async def test_a_foreign_create_makes_our_create_conflict() -> None:
    store = MemoryStore()
    state = ClusterState(store)
    await store.put(keys.server_key("z"), encode(server("z")))
    with pytest.raises(Conflict):
        await state.put_server(server("z"))


async def test_a_written_record_conflicts_in_the_state_that_read_it_earlier() -> None:
    store, state = await filled()
    other = await ClusterState.load(store)
    await other.put_model(ModelRecord(spec("mnist", Gi, 2), 1, seq=4))
    with pytest.raises(Conflict):
        await state.put_model(ModelRecord(spec("mnist", Gi, 3), 1, seq=4))


async def test_delete_model_removes_versions_and_replicas_and_nothing_else() -> None:
    store, state = await filled()
    await state.delete_model("iris")
    assert set(state.models) == {"mnist"}
    assert set(state.versions) == {("mnist", 1)}
    assert set(state.replicas) == {ReplicaId("mnist", 1, "a")}
    assert set(state.servers) == {"a", "b"}
    stored = sorted(e.key for e in (await store.snapshot("")).entries)
    assert stored == [
        "models/mnist",
        "models/mnist/versions/1",
        "replicas/mnist/1/a",
        "servers/a",
        "servers/b",
    ]


async def test_reads() -> None:
    _, state = await filled()
    assert [r.server for r in state.replicas_of("iris")] == ["a", "b"]
    assert [r.server for r in state.replicas_of("iris", 1)] == ["b"]
    assert sorted(r.model for r in state.replicas_on("a")) == ["iris", "mnist"]
    assert state.version_of(state.models["iris"]) == state.versions[("iris", 2)]
    await state.put_model(ModelRecord(spec("early", Gi), 1, seq=1))
    await state.put_model(ModelRecord(spec("also-early", Gi), 1, seq=1))
    assert [m.name for m in state.models_in_order()] == ["also-early", "early", "iris", "mnist"]


async def test_next_seq_starts_at_one() -> None:
    assert ClusterState(MemoryStore()).next_seq == 1


def test_usable_memory_includes_overcommit() -> None:
    assert server("a").usable_memory_bytes == 10 * Gi
