"""One reconcile pass: compare desired state with observed state and issue orders.

The pass, in order (each step's why is in its function):
1. servers silent past the heartbeat timeout become Lost;
2. during the start-up grace nothing is placed, so a restarted scheduler waits for the agents
   to re-register what they hold instead of reloading it elsewhere;
3. each model, in the order models were first loaded, is placed (`scheduler.placement.place`)
   and its orders are sent: loads for new replicas, unloads for removals once the replacements
   are Available, and release of older versions once the current one serves (a rolling update);
4. models being unloaded lose their replicas, and go once none is left;
5. draining servers hear which of their models still wait for a replacement.

A Failed decision loads nothing new and unloads nothing: replicas that serve keep serving.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace

from loadmaster.model_state import ServerState
from loadmaster.replica_state import ReplicaState
from scheduler.core import SchedulerCore
from scheduler.model_status import HOLDING, IN_FLIGHT, LEAVING, PLACED, summarize
from scheduler.orders import DrainAck
from scheduler.pipeline_views import pipeline_view
from scheduler.placement import (
    FleetView,
    ModelDemand,
    PlacementDecision,
    Scheduling,
    ServerSnapshot,
    place,
)
from scheduler.records import ModelRecord, ReplicaId, ReplicaRecord, ServerRecord

S = ReplicaState


async def reconcile_pass(core: SchedulerCore) -> None:
    writes, decisions = core.state.writes, dict(core.decisions)
    async with core.mutex:
        for name in core.liveness.expired():
            await lose_server(core, name)
        if core.in_grace and not _grace_over(core):
            return
        core.in_grace = False
        fleet = FleetView(snapshots(core))
        for model in list(core.state.models_in_order()):
            if model.deleting:
                await _terminate(core, model)
            else:
                await _reconcile_model(core, model, fleet)
        await _acknowledge_drains(core)
        _update_metrics(core)
    # Subscribers recompute what they follow on every bump; a quiet pass wakes nobody.
    if core.state.writes != writes or core.decisions != decisions:
        core.changes.bump()


def _grace_over(core: SchedulerCore) -> bool:
    """Over once every server not known to be Lost has re-registered, or the grace ran out."""
    waiting = [
        name
        for name, server in core.state.servers.items()
        if server.state is not ServerState.LOST and not core.sink.connected(name)
    ]
    return not waiting or core.clock() - core.started_at >= core.config.grace_s


async def lose_server(core: SchedulerCore, name: str) -> None:
    """A server went silent (or said it is leaving): its replicas no longer count anywhere."""
    core.liveness.forget(name)
    core.drain_acks.pop(name, None)
    server = core.state.servers.get(name)
    if server is None:
        return
    if server.state is not ServerState.LOST:
        await core.state.put_server(replace(server, state=ServerState.LOST))
    for record in core.state.replicas_on(name):
        if record.state in LEAVING:
            await core.state.delete_replica(record.id)
        elif record.state in HOLDING:
            await core.state.put_replica(replace(record, state=S.LOST, reason="server lost"))
    core.sink.disconnect(name)


def snapshots(core: SchedulerCore) -> list[ServerSnapshot]:
    """The servers placement may use, with the replicas that hold memory on them.

    A leaving replica is accounted under a negated version: it still holds memory, but it is not
    one of the model version's replicas any more.
    """
    by_server: dict[str, list[ReplicaRecord]] = defaultdict(list)
    for record in core.state.replicas.values():
        if record.state in HOLDING:
            by_server[record.server].append(record)
    return [
        _snapshot(server, by_server.get(name, []))
        for name, server in core.state.servers.items()
        if server.state is not ServerState.LOST
    ]


def _snapshot(server: ServerRecord, replicas: list[ReplicaRecord]) -> ServerSnapshot:
    devices = {g.index for g in server.gpus}
    placed = []
    for record in replicas:
        if record.gpu is not None and record.gpu not in devices:
            record = replace(record, gpu=None, gpu_memory_bytes=0)  # the server lost that GPU
        placed.append(record.placed(-record.version if record.state in LEAVING else None))
    return ServerSnapshot(
        name=server.name,
        memory_bytes=server.memory_bytes,
        pool=server.pool,
        capabilities=server.capabilities,
        overcommit_percent=server.overcommit_percent,
        parallel_workers=server.parallel_workers,
        gpus=server.gpus,
        draining=server.state is ServerState.DRAINING,
        replicas=tuple(placed),
    )


def demand_of(model: ModelRecord) -> ModelDemand:
    spec = model.spec
    return ModelDemand(
        name=model.name,
        version=model.version,
        memory_bytes=spec.memory_bytes,
        replicas=spec.replicas,
        min_replicas=min(spec.min_replicas, spec.replicas),
        gpu_memory_bytes=spec.gpu_memory_bytes,
        requirements=spec.requirements,
        server=spec.server or None,
        instance_count=spec.instances or None,
    )


async def _reconcile_model(core: SchedulerCore, model: ModelRecord, fleet: FleetView) -> None:
    started = time.perf_counter()
    decision = place(demand_of(model), fleet, core.config.policy)
    core.metrics.decision_seconds.observe(time.perf_counter() - started)
    if core.decisions.get(model.name) != decision:
        core.metrics.decisions.labels(decision.scheduling.value).inc()
    core.decisions[model.name] = decision
    version = core.state.version_of(model)
    failed = version is None or bool(version.failed_reason)
    if decision.scheduling is not Scheduling.FAILED and not failed:
        for placement in decision.add:
            await core.order_load(model, placement)
            core.metrics.orders.labels("load").inc()
        fleet.apply(PlacementDecision(decision.model, decision.scheduling, add=decision.add))
    current = core.state.replicas_of(model.name, model.version)
    settled = not decision.add and not failed and decision.scheduling is not Scheduling.FAILED
    settled = settled and not any(r.state in IN_FLIGHT for r in current)
    if decision.remove and settled:
        # Removals wait until their replacements are Available (brief §5: no request fails).
        for placement in decision.remove:
            record = core.state.replicas.get(ReplicaId(model.name, model.version, placement.server))
            if record is not None and record.state in PLACED:
                await core.order_unload(record)
                core.metrics.orders.labels("unload").inc()
    await _release_older_versions(core, model, failed)


async def _release_older_versions(core: SchedulerCore, model: ModelRecord, failed: bool) -> None:
    """Unload older versions once every placed replica of the current version is Available.

    Until then the older version keeps serving, so the model stays ModelAvailable through the
    roll. Records of older versions that hold nothing (failed or lost) go at once, and so does
    a version record once no replica of it is left.
    """
    current = [r for r in core.state.replicas_of(model.name, model.version) if r.state in PLACED]
    ready = bool(current) and all(r.state is S.AVAILABLE for r in current) and not failed
    for record in core.state.replicas_of(model.name):
        if record.version >= model.version:
            continue
        if record.state not in HOLDING:
            await core.state.delete_replica(record.id)
        elif ready and record.state in PLACED:
            await core.order_unload(record)
            core.metrics.orders.labels("unload").inc()
    remaining = {r.version for r in core.state.replicas_of(model.name)}
    for name, version in list(core.state.versions):
        if name == model.name and version < model.version and version not in remaining:
            await core.state.delete_version(name, version)


async def _terminate(core: SchedulerCore, model: ModelRecord) -> None:
    """Unload every replica of a model being unloaded; forget the model once none is left."""
    core.decisions.pop(model.name, None)
    for record in core.state.replicas_of(model.name):
        server = core.state.servers.get(record.server)
        gone = server is None or server.state is ServerState.LOST
        if gone or record.state not in HOLDING:
            await core.state.delete_replica(record.id)
        elif record.state not in LEAVING:
            await core.order_unload(record)
            core.metrics.orders.labels("unload").inc()
    if not core.state.replicas_of(model.name):
        await core.state.delete_model(model.name)


async def _acknowledge_drains(core: SchedulerCore) -> None:
    """Tell each draining agent which models still need it; an empty list lets it exit."""
    for name, server in core.state.servers.items():
        if server.state is not ServerState.DRAINING or not core.sink.connected(name):
            continue
        pending = tuple(
            sorted({r.model for r in core.state.replicas_on(name) if r.state in PLACED})
        )
        if core.drain_acks.get(name) != pending and core.sink.send(name, DrainAck(pending)):
            core.drain_acks[name] = pending


def _update_metrics(core: SchedulerCore) -> None:
    state = core.state
    statuses = [
        summarize(m, state.version_of(m), state.replicas_of(m.name), core.decisions.get(m.name))
        for m in state.models.values()
    ]
    core.metrics.set_models((s.state.value, s.scheduling.value) for s in statuses)
    core.metrics.set_pipelines(pipeline_view(core, p).state.value for p in state.pipelines.values())
    used: dict[str, int] = defaultdict(int)
    for record in state.replicas.values():
        if record.state in HOLDING:
            used[record.server] += record.memory_bytes
    core.metrics.set_servers(
        (s.name, s.state.value, s.usable_memory_bytes, used[s.name]) for s in state.servers.values()
    )
