"""What the scheduler does when an agent registers, reports a replica, or drains.

Registration is where restarts on either side reconcile without reloading anything: the agent
says what it holds, and the scheduler keeps what is still wanted (recording it as it is),
unloads what is not, re-sends loads the agent never received, and forgets the rest. The agent
is the truth about what it holds; the scheduler is the truth about what should be held.
"""

from __future__ import annotations

from dataclasses import replace

from loadmaster import logs
from loadmaster.model_state import ServerState
from loadmaster.replica_state import TRANSITIONS, ReplicaState
from scheduler.core import SchedulerCore
from scheduler.model_status import IN_FLIGHT, LEAVING
from scheduler.orders import Registration, ReplicaEvent
from scheduler.reconcile import lose_server
from scheduler.records import ReplicaId, ReplicaRecord, ServerRecord

S = ReplicaState
log = logs.get_logger("scheduler.agents")


async def on_register(core: SchedulerCore, reg: Registration) -> None:
    async with core.mutex:
        server = ServerRecord(
            name=reg.server,
            memory_bytes=reg.memory_bytes,
            http_endpoint=reg.http_endpoint,
            grpc_endpoint=reg.grpc_endpoint,
            pool=reg.pool,
            overcommit_percent=reg.overcommit_percent,
            parallel_workers=max(1, reg.parallel_workers),
            capabilities=reg.capabilities,
            gpus=reg.gpus,
        )
        await core.state.put_server(server)
        core.liveness.beat(server.name)
        core.drain_acks.pop(server.name, None)
        held = {(h.model, h.version): h.state for h in reg.held}
        for h in reg.held:
            if h.state is S.AVAILABLE:
                core.signatures.observe(h.model, h.version, h.signature, core.state.versions)
        existing = {(r.model, r.version): r for r in core.state.replicas_on(server.name)}
        for (model, version), state in sorted(held.items()):
            await _adopt(core, server, model, version, state, existing.get((model, version)))
        for key, record in existing.items():
            if key not in held:
                await _not_held(core, record)
        log.info("agent registered", server=server.name, held=len(held), pool=server.pool)
    core.wake()


async def _adopt(
    core: SchedulerCore,
    server: ServerRecord,
    model: str,
    version: int,
    state: ReplicaState,
    record: ReplicaRecord | None,
) -> None:
    """A replica the agent holds: record it as it is, or unload it when nobody wants it."""
    state = state if state in (S.AVAILABLE, S.LOADING) else S.LOADING
    wanted = core.wanted(model, version)
    if record is None:
        spec = core.spec_of(model, version)
        if spec is None:
            record = ReplicaRecord(model, version, server.name, S.UNLOAD_REQUESTED, 0)
        else:
            memory, gpu, gpu_bytes, workers = core.cost_on(spec, server)
            record = ReplicaRecord(
                model, version, server.name, state, memory, "", gpu, gpu_bytes, workers
            )
    if not wanted or record.state in LEAVING:
        await core.order_unload(record)
        return
    await core.state.put_replica(replace(record, state=state, reason=""))


async def _not_held(core: SchedulerCore, record: ReplicaRecord) -> None:
    """A replica the scheduler expected but the agent does not hold."""
    if record.state is S.LOAD_FAILED:
        return  # kept so the model's status shows why
    if record.state in IN_FLIGHT and core.wanted(record.model, record.version):
        # The order was never received, or the agent restarted mid-load: send it again.
        record = replace(record, state=S.LOAD_REQUESTED, reason="")
        await core.state.put_replica(record)
        core.send_load(record)
        return
    await core.state.delete_replica(record.id)


async def on_event(core: SchedulerCore, server: str, event: ReplicaEvent) -> None:
    async with core.mutex:
        await _apply_event(core, server, event)
    core.wake()


async def _apply_event(core: SchedulerCore, server: str, event: ReplicaEvent) -> None:
    rid = ReplicaId(event.model, event.version, server)
    host = core.state.servers.get(server)
    if host is None or host.state is ServerState.LOST:
        return  # a late event from a stream already given up; registration tells the truth
    if event.state is S.AVAILABLE:
        core.signatures.observe(event.model, event.version, event.signature, core.state.versions)
    record = core.state.replicas.get(rid)
    if event.state is S.UNLOADED:
        await core.state.delete_replica(rid)
        return
    if record is None:
        if event.state in (S.AVAILABLE, S.LOADING):
            # A load from before a restart finished: treat it as held at registration.
            await _adopt(core, host, event.model, event.version, event.state, None)
        return
    if record.state in LEAVING and event.state in (S.AVAILABLE, S.LOADING):
        await core.order_unload(record)  # the agent finished a load nobody wants any more
        return
    if event.state not in TRANSITIONS[record.state] and event.state is not record.state:
        log.warning(
            "unexpected replica transition; the agent's report wins",
            replica=f"{event.model}:v{event.version}@{server}",
            old=record.state.value,
            new=event.state.value,
        )
    await core.state.put_replica(replace(record, state=event.state, reason=event.reason))
    if event.state is S.LOAD_FAILED:
        await _fail_version(core, server, event)


async def _fail_version(core: SchedulerCore, server: str, event: ReplicaEvent) -> None:
    """A failed load stops placement of that version until its spec is applied again."""
    version = core.state.versions.get((event.model, event.version))
    if version is None or version.failed_reason:
        return
    reason = f"load failed on server {server}: {event.reason or 'no reason given'}"
    await core.state.put_version(replace(version, failed_reason=reason))
    log.warning("model version failed", model=event.model, version=event.version, reason=reason)


async def on_heartbeat(core: SchedulerCore, server: str) -> None:
    core.liveness.beat(server)


async def on_draining(core: SchedulerCore, server: str, done: bool) -> None:
    """done=False: move this server's replicas away; done=True: the agent is exiting now."""
    async with core.mutex:
        record = core.state.servers.get(server)
        if record is None:
            return
        if done:
            log.info("agent left", server=server)
            await lose_server(core, server)
        elif record.state is ServerState.READY:
            log.info("agent draining", server=server)
            await core.state.put_server(replace(record, state=ServerState.DRAINING))
    core.wake()
