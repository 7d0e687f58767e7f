"""The agent's data plane: one transport-independent core behind REST and gRPC.

It owns the model versions this agent serves, loads them through the artifact cache and the
worker pool, and answers health, metadata, inference and repository calls. The transports only
decode, call one method here, and encode; errors are `OIPError`s that they map to statuses.

A reload of a model is a rolling update inside the agent: the new version loads while the old
one keeps serving; once the new one is `Available` the old one stops taking requests, its
in-flight requests finish, and only then is it unloaded.

Listeners (the scheduler link) hear of every stored state change of every version, including a
final Unloaded when a version leaves for any reason: an order, a rollout, a repository unload,
or a failed attempt replaced by a new one. The plane needs no knowledge of who listens.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace

from agent.artifacts import ArtifactCache, ArtifactError
from agent.batching import AdaptiveBatcher
from agent.config import AgentConfig
from agent.inflight import InFlight
from agent.metrics import AgentMetrics
from agent.models import ModelVersion, ServingHandle, VersionInfo, VersionListener
from agent.workers.pool import WorkerPool
from loadmaster import __version__, logs
from loadmaster.oip import errors
from loadmaster.oip.types import (
    InferRequest,
    InferResponse,
    ModelMetadata,
    RepositoryEntry,
    ServerMetadata,
    Tensor,
)
from loadmaster.oip.validation import select_outputs, validate_inputs
from loadmaster.replica_state import ReplicaState, ReplicaStatus

log = logs.get_logger("agent.dataplane")

EXTENSIONS = ("binary_tensor_data", "model_repository", "streaming", "metrics", "parameters")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_INDEX_STATE = {
    ReplicaState.AVAILABLE: "READY",
    ReplicaState.LOADING: "LOADING",
    ReplicaState.LOAD_REQUESTED: "LOADING",
    ReplicaState.UNLOADING: "UNLOADING",
    ReplicaState.UNLOAD_REQUESTED: "UNLOADING",
}


def check_model_name(name: str) -> str:
    if not _NAME.match(name):
        raise errors.BadRequest(
            f"invalid model name {name!r}: use letters, digits, '_', '.', '-' (at most 128), "
            "starting with a letter or digit"
        )
    return name


class DataPlane:
    def __init__(
        self,
        config: AgentConfig,
        pool: WorkerPool,
        cache: ArtifactCache,
        metrics: AgentMetrics,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self._pool = pool
        self._cache = cache
        self._metrics = metrics
        self._clock = clock
        self._models: dict[str, dict[str, ModelVersion]] = {}
        self._handles: dict[str, ServingHandle] = {}
        self._in_flight = InFlight()
        self._next_version: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._listeners: list[VersionListener] = []
        self.starting = True

    # ---- version bookkeeping ---------------------------------------------------------------

    def add_listener(self, listener: VersionListener) -> None:
        """Call `listener` on every stored state change of a version, synchronously, so that it
        sees them in order and before any later change (it must not block)."""
        self._listeners.append(listener)

    def held(self) -> list[VersionInfo]:
        """Every version this plane has a record of, in any state: what a registration reports."""
        return [record.info() for versions in self._models.values() for record in versions.values()]

    def _notify(self, info: VersionInfo) -> None:
        for listener in list(self._listeners):
            try:
                listener(info)
            except Exception:  # a listener's bug must not break loading or serving
                log.exception("version listener failed", model=info.name, version=info.version)

    def _put(self, record: ModelVersion) -> ModelVersion:
        """Store a version's new record and tell the listeners."""
        self._models.setdefault(record.name, {})[record.version] = record
        self._notify(record.info())
        return record

    def _drop(self, record: ModelVersion) -> None:
        """Forget a version and tell the listeners it is Unloaded."""
        versions = self._models.get(record.name)
        if versions is not None and versions.pop(record.version, None) is not None:
            self._notify(record.info(ReplicaState.UNLOADED))

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # ---- health and metadata -------------------------------------------------------------

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return not self.starting and all(w.alive for w in self._pool.workers)

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata("loadmaster", __version__, EXTENSIONS)

    def _versions_of(self, name: str) -> dict[str, ModelVersion]:
        versions = self._models.get(name)
        if not versions:
            raise errors.ModelNotFound(f"model '{name}' not found")
        return versions

    def _serving(self, name: str, version: str = "") -> ModelVersion:
        """The version to serve: the one asked for, else the newest Available one."""
        versions = self._versions_of(name)
        if version:
            record = versions.get(version)
            if record is None:
                raise errors.ModelNotFound(f"model '{name}' has no version '{version}'")
            if record.state is not ReplicaState.AVAILABLE:
                raise errors.ModelNotReady(
                    f"model '{name}' version '{version}' is {record.state}"
                    + (f": {record.status.reason}" if record.status.reason else "")
                )
            return record
        available = [v for v in versions.values() if v.state is ReplicaState.AVAILABLE]
        if not available:
            latest = list(versions.values())[-1]
            reason = f": {latest.status.reason}" if latest.status.reason else ""
            raise errors.ModelNotReady(f"model '{name}' is not ready ({latest.state}{reason})")
        return available[-1]

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        versions = self._versions_of(name)
        record = self._serving(name, version)
        return record.metadata(tuple(versions))

    def model_ready(self, name: str, version: str = "") -> bool:
        self._versions_of(name)
        try:
            self._serving(name, version)
        except errors.ModelNotReady:
            return False
        return True

    # ---- inference -------------------------------------------------------------------------

    def _prepare(self, request: InferRequest) -> ModelVersion:
        record = self._serving(request.model, request.version)
        assert record.loaded is not None
        validate_inputs(request.model, request.inputs, record.loaded.inputs)
        return record

    async def infer(self, request: InferRequest) -> InferResponse:
        model = request.model
        self._versions_of(model)  # unknown names never become metric labels
        started = self._clock()
        outcome = "ok"
        self._metrics.in_flight.labels(model).inc()
        try:
            record = self._prepare(request)
            key = record.key
            with self._in_flight.track(key):
                handle = self._handles.get(key)
                if handle is not None and handle.batcher is not None:
                    outputs = await handle.batcher.submit(request.inputs, request.parameters)
                else:
                    outputs = await self._pool.predict(key, request.inputs, request.parameters)
            selected = select_outputs(model, outputs, request.outputs)
            return InferResponse(model, selected, record.version, request.id)
        except errors.OIPError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self._metrics.in_flight.labels(model).dec()
            self._metrics.requests.labels(model, outcome).inc()
            self._metrics.latency.labels(model).observe(self._clock() - started)

    async def infer_stream(self, request: InferRequest) -> AsyncIterator[InferResponse]:
        record = self._prepare(request)
        key = record.key
        outcome = "ok"
        try:
            with self._in_flight.track(key):
                parts = self._pool.predict_stream(key, request.inputs, request.parameters)
                async for part in parts:
                    outputs = select_outputs(request.model, part, request.outputs)
                    yield InferResponse(request.model, outputs, record.version, request.id)
        except errors.OIPError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self._metrics.requests.labels(request.model, outcome).inc()

    # ---- repository ------------------------------------------------------------------------

    def repository_index(self, ready_only: bool = False) -> list[RepositoryEntry]:
        entries: list[RepositoryEntry] = []
        for versions in self._models.values():
            for record in versions.values():
                state = _INDEX_STATE.get(record.state, "UNAVAILABLE")
                reason = record.status.reason or str(record.state)
                entries.append(RepositoryEntry(record.name, record.version, state, reason))
        known = {e.name for e in entries}
        for name in self._models_dir_names():
            if name not in known:
                entries.append(RepositoryEntry(name, "", "UNAVAILABLE", "not loaded"))
        if ready_only:
            entries = [e for e in entries if e.state == "READY"]
        return sorted(entries, key=lambda e: (e.name, e.version))

    def _models_dir_names(self) -> list[str]:
        root = self.config.models_dir
        if root is None or not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))

    def _storage_uri_for(self, name: str, storage_uri: str | None) -> str:
        if storage_uri:
            return storage_uri
        root = self.config.models_dir
        if root is None or not (root / name).is_dir():
            raise errors.ModelNotFound(
                f"model '{name}' is not in the models directory and no storage_uri was given"
            )
        return str((root / name).resolve())

    async def load(
        self, name: str, storage_uri: str | None = None, version: str | None = None
    ) -> ModelVersion:
        """Load (or roll to) a version of `name`; returns once it is Available."""
        check_model_name(name)
        async with self._lock(name):
            uri = self._storage_uri_for(name, storage_uri)
            try:
                fetched = await asyncio.to_thread(self._cache.fetch, uri)
            except ArtifactError as exc:
                raise errors.BadRequest(f"model '{name}': {exc}") from None
            versions = self._models.setdefault(name, {})
            for failed in [v for v in versions.values() if v.state is ReplicaState.LOAD_FAILED]:
                self._drop(failed)  # a new attempt replaces the last failure
            for record in versions.values():
                same = record.digest == fetched.digest and version in (None, record.version)
                if same and record.state is ReplicaState.AVAILABLE:
                    return record  # the same artifact is already serving
            version = version or self._allocate_version(name)
            if version in versions:
                raise errors.BadRequest(f"model '{name}' version '{version}' is already loaded")
            record = ModelVersion(
                name, version, uri, ReplicaStatus(ReplicaState.LOADING), fetched.digest,
                download_s=fetched.download_s,
            )  # fmt: skip
            self._put(record)
            try:
                loaded = await asyncio.wait_for(
                    self._pool.load(record.key, name, str(fetched.path), self.config.capabilities),
                    timeout=self.config.load_timeout_s,
                )
            except (errors.OIPError, TimeoutError) as exc:
                message = exc.message if isinstance(exc, errors.OIPError) else "load timed out"
                self._put(record.advance(ReplicaState.LOAD_FAILED, message))
                log.warning("model load failed", model=name, version=version, error=message)
                raise errors.BadRequest(f"model '{name}' failed to load: {message}") from None
            record = replace(record.advance(ReplicaState.AVAILABLE), loaded=loaded)
            self._serve(record)  # routable before anyone hears it is Available
            self._put(record)
            log.info("model available", model=name, version=version, device=loaded.device)
            for old in [v for v in versions.values() if v.version != version]:
                await self._retire(old)
            return record

    async def load_with_parameters(
        self, name: str, parameters: Mapping[str, object]
    ) -> ModelVersion:
        """A repository load as both transports receive it: `storage_uri` and `version`
        parameters are optional strings; anything else is ignored (Triton sends `config`)."""
        uri, version = parameters.get("storage_uri"), parameters.get("version")
        for key, value in (("storage_uri", uri), ("version", version)):
            if value is not None and not isinstance(value, str):
                raise errors.BadRequest(f"parameter '{key}' must be a string")
        assert uri is None or isinstance(uri, str)
        assert version is None or isinstance(version, str)
        return await self.load(name, uri, version)

    def _allocate_version(self, name: str) -> str:
        number = self._next_version.get(name, 1)
        self._next_version[name] = number + 1
        return str(number)

    def _serve(self, record: ModelVersion) -> None:
        loaded = record.loaded
        assert loaded is not None
        handle = ServingHandle()
        if loaded.max_batch_size > 1:
            key = record.key

            async def run(inputs: tuple[Tensor, ...], parameters: object) -> tuple[Tensor, ...]:
                assert isinstance(parameters, dict)
                return await self._pool.predict(key, inputs, parameters)

            batcher = AdaptiveBatcher(loaded.max_batch_size, loaded.max_batch_time_ms / 1000.0, run)
            self._metrics.queue_depth.labels(record.name).set_function(lambda: batcher.queue_depth)
            handle.batcher = batcher
        self._handles[record.key] = handle
        model = record.name
        self._metrics.load_seconds.labels(model, "download").set(record.download_s)
        self._metrics.load_seconds.labels(model, "deserialize").set(loaded.deserialize_s)
        self._metrics.load_seconds.labels(model, "to_device").set(loaded.to_device_s)
        self._metrics.load_seconds.labels(model, "warmup").set(loaded.warmup_s)
        self._metrics.memory_bytes.labels(model, "rss").set(loaded.rss_bytes)
        self._metrics.memory_bytes.labels(model, "cuda").set(loaded.cuda_bytes)

    async def _retire(self, record: ModelVersion, drain_timeout_s: float = 30.0) -> None:
        """Stop routing to `record`, let its in-flight requests finish, then unload it."""
        leaving = record
        if leaving.state is ReplicaState.AVAILABLE:
            leaving = leaving.advance(ReplicaState.UNLOAD_REQUESTED)
        if leaving.state is ReplicaState.UNLOAD_REQUESTED:
            leaving = leaving.advance(ReplicaState.UNLOADING)
        if leaving is not record:
            record = self._put(leaving)
        if not await self._in_flight.drained(record.key, drain_timeout_s):
            log.warning("unloading with requests still in flight", model=record.key)
        await self._pool.unload(record.key)
        self._handles.pop(record.key, None)
        self._in_flight.forget(record.key)
        self._drop(record)

    async def unload(self, name: str) -> None:
        check_model_name(name)
        async with self._lock(name):
            versions = self._versions_of(name)
            for record in list(versions.values()):
                await self._retire(record)
            self._models.pop(name, None)
            self._metrics.forget_model(name)
            log.info("model unloaded", model=name)

    async def unload_version(self, name: str, version: str) -> bool:
        """Unload one version, leaving any others serving (a scheduler's order names exactly
        one replica). False when this plane does not hold it, which is not an error: the order
        is already satisfied."""
        if name not in self._models and name not in self._locks:
            return False  # never seen: do not grow a lock for a name
        async with self._lock(name):
            record = self._models.get(name, {}).get(version)
            if record is None:
                return False
            await self._retire(record)
            if not self._models.get(name):
                self._models.pop(name, None)
                self._metrics.forget_model(name)
            log.info("model version unloaded", model=name, version=version)
            return True

    async def load_models_dir(self) -> None:
        """Stand-alone start-up: every directory under --models-dir is a model to load."""
        for name in self._models_dir_names():
            try:
                await self.load(name)
            except errors.OIPError as exc:
                log.error("start-up load failed", model=name, error=exc.message)
