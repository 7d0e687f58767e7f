"""SchedulerCore: the state and collaborators that every scheduler handler shares.

Every change to the cluster (an admin call, an agent's registration or event, a reconcile pass)
runs under one `mutex`. Why one lock: handlers await store writes, and a placement decision
made from a fleet view that another handler changed mid-way could over-commit a server. The
critical sections are short (memory updates plus a few etcd writes), so one lock costs little
and makes every decision see a consistent cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import replace

from loadmaster.model_state import ServerState
from loadmaster.replica_state import ReplicaState
from loadmaster.resources import ModelSpec
from scheduler.changes import Changes
from scheduler.cluster import ClusterState
from scheduler.config import SchedulerConfig
from scheduler.experiment_traffic import TrafficLedger
from scheduler.liveness import Clock, Liveness
from scheduler.metrics import SchedulerMetrics
from scheduler.model_signatures import Signatures
from scheduler.orders import LoadOrder, OrderSink, UnloadOrder
from scheduler.placement import PlacementDecision, ReplicaPlacement
from scheduler.records import ModelRecord, ReplicaRecord, ServerRecord

S = ReplicaState


class SchedulerCore:
    def __init__(
        self,
        state: ClusterState,
        sink: OrderSink,
        config: SchedulerConfig,
        metrics: SchedulerMetrics,
        clock: Clock = time.monotonic,
    ) -> None:
        self.state = state
        self.sink = sink
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.liveness = Liveness(config.heartbeat_timeout_s, clock)
        self.changes = Changes()
        self.mutex = asyncio.Lock()
        self.decisions: dict[str, PlacementDecision] = {}
        self.drain_acks: dict[str, tuple[str, ...]] = {}
        self.traffic = TrafficLedger()  # experiment counts from gateways; in memory only
        self.signatures = Signatures()  # declared tensors per model version; from the agents
        self.started_at = clock()
        self.started_at_unix = time.time()
        self.in_grace = True
        self._wake = asyncio.Event()
        self._order_ids = itertools.count(1)
        for name, server in state.servers.items():
            if server.state is not ServerState.LOST:
                self.liveness.watch(name, config.grace_s)

    # ---- waking the reconcile loop -------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()
        self.changes.bump()

    async def wait_for_work(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)
        self._wake.clear()

    # ---- questions handlers ask ----------------------------------------------------------------

    def wanted(self, model: str, version: int) -> bool:
        """Whether a replica of this version may stay: its model is live, the version is current
        or older (a roll in progress), and the version is known."""
        record = self.state.models.get(model)
        if record is None or record.deleting or version > record.version:
            return False
        return (model, version) in self.state.versions

    def cost_on(self, spec: ModelSpec, server: ServerRecord) -> tuple[int, int | None, int, int]:
        """(memory, gpu, gpu memory, workers) of one replica of `spec` on `server`, for replicas
        placed by someone else (an agent that registers holding them)."""
        workers = spec.instances or server.parallel_workers
        gpu = server.gpus[0].index if spec.gpu_memory_bytes and server.gpus else None
        gpu_bytes = spec.gpu_memory_bytes * workers if gpu is not None else 0
        return spec.memory_bytes * workers, gpu, gpu_bytes, workers

    def spec_of(self, model: str, version: int) -> ModelSpec | None:
        record = self.state.versions.get((model, version))
        return None if record is None else record.spec

    # ---- orders ----------------------------------------------------------------------------------

    async def order_load(self, model: ModelRecord, placement: ReplicaPlacement) -> None:
        replica = placement.replica
        record = ReplicaRecord(
            model=model.name,
            version=model.version,
            server=placement.server,
            state=S.LOAD_REQUESTED,
            memory_bytes=replica.memory_bytes,
            gpu=replica.gpu,
            gpu_memory_bytes=replica.gpu_memory_bytes,
            workers=replica.workers,
        )
        await self.state.put_replica(record)
        self.send_load(record)

    def send_load(self, record: ReplicaRecord) -> None:
        spec = self.spec_of(record.model, record.version)
        if spec is None:
            return
        order = LoadOrder(
            next(self._order_ids),
            record.model,
            record.version,
            spec.storage_uri,
            spec.parameters,
            record.gpu,
        )
        self.sink.send(record.server, order)

    async def order_unload(self, record: ReplicaRecord) -> None:
        """Ask the agent to unload; the record keeps its memory until the agent says Unloaded."""
        if record.state is not S.UNLOAD_REQUESTED:
            record = replace(record, state=S.UNLOAD_REQUESTED, reason="")
            await self.state.put_replica(record)
        self.sink.send(
            record.server, UnloadOrder(next(self._order_ids), record.model, record.version)
        )
