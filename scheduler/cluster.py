"""ClusterState: the scheduler's records in memory, written through to the store.

Why write-through with one writer lock: the scheduler is the only writer of placement (brief
§1), so memory is the truth while it runs and the store is what a restarted scheduler reads.
Every change updates memory at once (so the next decision sees it) and is then made durable
before the caller goes on. Writes are compare-and-swap on the revision this scheduler last wrote:
if another writer changed a key (a second scheduler started by mistake), the write fails with
`Conflict` and this scheduler stops rather than overwrite state it no longer owns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from scheduler.experiment_records import ExperimentRecord, ExperimentUidRecord
from scheduler.pipeline_records import PipelineRecord
from scheduler.records import ModelRecord, ReplicaId, ReplicaRecord, ServerRecord, VersionRecord
from scheduler.store import MUST_NOT_EXIST, Store, decode, encode, keys


class ClusterState:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.models: dict[str, ModelRecord] = {}
        self.versions: dict[tuple[str, int], VersionRecord] = {}
        self.servers: dict[str, ServerRecord] = {}
        self.replicas: dict[ReplicaId, ReplicaRecord] = {}
        self.experiments: dict[str, ExperimentRecord] = {}
        self.last_experiment_uid = 0
        self.pipelines: dict[str, PipelineRecord] = {}
        self._revisions: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self.writes = 0  # how many changes were made: a pass that made none need not be announced

    @classmethod
    async def load(cls, store: Store) -> ClusterState:
        """Everything a previous run stored, read at one revision."""
        state = cls(store)
        snapshot = await store.snapshot("")
        for entry in snapshot.entries:
            key = entry.key
            if (name := keys.parse_model_key(key)) is not None:
                state.models[name] = decode(entry.value, ModelRecord)
            elif (version := keys.parse_model_version_key(key)) is not None:
                state.versions[version] = decode(entry.value, VersionRecord)
            elif (server := keys.parse_server_key(key)) is not None:
                state.servers[server] = decode(entry.value, ServerRecord)
            elif keys.parse_replica_key(key) is not None:
                record = decode(entry.value, ReplicaRecord)
                state.replicas[record.id] = record
            elif (experiment := keys.parse_experiment_key(key)) is not None:
                state.experiments[experiment] = decode(entry.value, ExperimentRecord)
            elif key == keys.EXPERIMENT_UID_KEY:
                counter = decode(entry.value, ExperimentUidRecord).last
                state.last_experiment_uid = max(state.last_experiment_uid, counter)
            elif (pipeline := keys.parse_pipeline_key(key)) is not None:
                state.pipelines[pipeline] = decode(entry.value, PipelineRecord)
            else:
                continue
            state._revisions[key] = entry.revision
        uids = (e.uid for e in state.experiments.values())
        state.last_experiment_uid = max(state.last_experiment_uid, *uids, 0)
        return state

    @property
    def next_seq(self) -> int:
        return max((m.seq for m in self.models.values()), default=0) + 1

    # ---- reads -------------------------------------------------------------------------------

    def replicas_of(self, model: str, version: int | None = None) -> list[ReplicaRecord]:
        return [
            r
            for r in self.replicas.values()
            if r.model == model and (version is None or r.version == version)
        ]

    def replicas_on(self, server: str) -> list[ReplicaRecord]:
        return [r for r in self.replicas.values() if r.server == server]

    def version_of(self, model: ModelRecord) -> VersionRecord | None:
        return self.versions.get((model.name, model.version))

    def models_in_order(self) -> Iterator[ModelRecord]:
        """Models by first load: who came first keeps scarce capacity."""
        return iter(sorted(self.models.values(), key=lambda m: (m.seq, m.name)))

    # ---- writes: memory first, then durable ---------------------------------------------------

    async def put_model(self, record: ModelRecord) -> None:
        self.models[record.name] = record
        await self._write(keys.model_key(record.name), record)

    async def put_version(self, record: VersionRecord) -> None:
        self.versions[(record.spec.name, record.version)] = record
        await self._write(keys.model_version_key(record.spec.name, record.version), record)

    async def put_server(self, record: ServerRecord) -> None:
        self.servers[record.name] = record
        await self._write(keys.server_key(record.name), record)

    async def put_replica(self, record: ReplicaRecord) -> None:
        self.replicas[record.id] = record
        await self._write(keys.replica_key(record.model, record.version, record.server), record)

    async def delete_replica(self, replica: ReplicaId) -> None:
        if self.replicas.pop(replica, None) is not None:
            await self._write(keys.replica_key(replica.model, replica.version, replica.server))

    async def delete_version(self, name: str, version: int) -> None:
        if self.versions.pop((name, version), None) is not None:
            await self._write(keys.model_version_key(name, version))

    async def delete_model(self, name: str) -> None:
        """The model, all its versions and any replica records left."""
        for replica in [r.id for r in self.replicas_of(name)]:
            await self.delete_replica(replica)
        for version in [v for (n, v) in self.versions if n == name]:
            await self.delete_version(name, version)
        if self.models.pop(name, None) is not None:
            await self._write(keys.model_key(name))

    async def new_experiment_uid(self) -> int:
        """A uid no experiment had before; the counter is stored before the uid is used."""
        self.last_experiment_uid += 1
        uid = self.last_experiment_uid
        await self._write(keys.EXPERIMENT_UID_KEY, ExperimentUidRecord(uid))
        return uid

    async def put_experiment(self, record: ExperimentRecord) -> None:
        self.experiments[record.name] = record
        await self._write(keys.experiment_key(record.name), record)

    async def delete_experiment(self, name: str) -> None:
        if self.experiments.pop(name, None) is not None:
            await self._write(keys.experiment_key(name))

    async def put_pipeline(self, record: PipelineRecord) -> None:
        self.pipelines[record.name] = record
        await self._write(keys.pipeline_key(record.name), record)

    async def delete_pipeline(self, name: str) -> None:
        if self.pipelines.pop(name, None) is not None:
            await self._write(keys.pipeline_key(name))

    async def _write(self, key: str, record: object | None = None) -> None:
        self.writes += 1
        async with self._lock:
            expected = self._revisions.get(key, MUST_NOT_EXIST)
            if record is None:
                await self.store.delete(key, expect_revision=expected)
                self._revisions.pop(key, None)
            else:
                self._revisions[key] = await self.store.put(key, encode(record), expected)
