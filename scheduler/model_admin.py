"""Model lifecycle requests from the admin API: apply a spec, unload a model.

Both return once the change is stored (LoadModel does not wait for placement; status and the
subscriptions show progress). A change of `storageUri` or `parameters` makes a new version;
any other change updates the current version in place, so scaling never reloads a replica.
Applying the same spec again to a version that failed to load retries it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from loadmaster import logs
from loadmaster.replica_state import ReplicaState
from loadmaster.resources import ModelSpec, check_spec
from scheduler.core import SchedulerCore
from scheduler.records import ModelRecord, VersionRecord

log = logs.get_logger("scheduler.models")


class InvalidSpec(ValueError):
    """The spec breaks a rule; the message names each field at fault."""


class UnknownModel(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Applied:
    version: int
    changed: bool


async def apply_spec(core: SchedulerCore, spec: ModelSpec) -> Applied:
    problems = check_spec(spec)
    if problems:
        raise InvalidSpec("; ".join(problems))
    async with core.mutex:
        applied = await _apply(core, spec)
    if applied.changed:
        log.info("model applied", model=spec.name, version=applied.version)
        core.wake()
    return applied


async def _apply(core: SchedulerCore, spec: ModelSpec) -> Applied:
    state = core.state
    current = state.models.get(spec.name)
    if current is None:
        await state.put_version(VersionRecord(spec, 1))
        await state.put_model(ModelRecord(spec, 1, state.next_seq))
        return Applied(1, True)
    version = state.version_of(current)
    failed = version is not None and bool(version.failed_reason)
    if current.spec == spec and not current.deleting and not failed:
        return Applied(current.version, False)
    if current.spec.version_fields() != spec.version_fields():
        number = current.version + 1
        await state.put_version(VersionRecord(spec, number))
        await state.put_model(ModelRecord(spec, number, current.seq))
        return Applied(number, True)
    await state.put_version(VersionRecord(spec, current.version))  # also clears a failure
    for record in state.replicas_of(spec.name, current.version):
        if record.state is ReplicaState.LOAD_FAILED:
            await state.delete_replica(record.id)  # so the retry may use that server again
    await state.put_model(replace(current, spec=spec, deleting=False))
    return Applied(current.version, True)


async def request_unload(core: SchedulerCore, name: str) -> None:
    async with core.mutex:
        current = core.state.models.get(name)
        if current is None:
            raise UnknownModel(f"model '{name}' not found")
        if not current.deleting:
            await core.state.put_model(replace(current, deleting=True))
            log.info("model unload requested", model=name)
    core.wake()
