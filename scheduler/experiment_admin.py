"""Experiment lifecycle requests from the admin API: start (or change) one, stop one.

Both return once the change is stored and wake the route subscribers, so gateways pick up the
new split at once. Starting again with an identical spec changes nothing (same uid, no wake);
any change of the spec gets a new uid, and the traffic counted under the old one is dropped.
Candidates need not exist yet: the experiment waits for them (`ExperimentWaiting`).

Rules that need the cluster live here rather than in `check_experiment`: a model can be taken
over (`spec.default`) by one experiment at a time, otherwise two experiments would each claim
the requests for it and which one a gateway applied would be an accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadmaster import logs
from loadmaster.resources import ExperimentSpec, check_experiment
from scheduler.core import SchedulerCore
from scheduler.experiment_records import ExperimentRecord
from scheduler.model_admin import InvalidSpec

log = logs.get_logger("scheduler.experiments")


class DefaultTaken(ValueError):
    """`spec.default` names a model another experiment already takes over."""


class UnknownExperiment(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Started:
    uid: int
    changed: bool


async def start_experiment(core: SchedulerCore, spec: ExperimentSpec) -> Started:
    problems = check_experiment(spec)
    if problems:
        raise InvalidSpec("; ".join(problems))
    async with core.mutex:
        state = core.state
        current = state.experiments.get(spec.name)
        if current is not None and current.spec == spec:
            return Started(current.uid, False)
        _check_default_free(core, spec)
        uid = await state.new_experiment_uid()
        await state.put_experiment(ExperimentRecord(spec, uid))
        core.traffic.forget(spec.name)
    log.info(
        "experiment started" if current is None else "experiment changed",
        experiment=spec.name,
        uid=uid,
        candidates=[c.model for c in spec.candidates],
    )
    core.changes.bump()
    return Started(uid, True)


def _check_default_free(core: SchedulerCore, spec: ExperimentSpec) -> None:
    if not spec.default_model:
        return
    for other in core.state.experiments.values():
        if other.name != spec.name and other.spec.default_model == spec.default_model:
            raise DefaultTaken(
                f"spec.default: model {spec.default_model!r} is already taken over by "
                f"experiment {other.name!r}; stop that experiment first, or leave spec.default "
                "out"
            )


async def stop_experiment(core: SchedulerCore, name: str) -> None:
    async with core.mutex:
        if name not in core.state.experiments:
            raise UnknownExperiment(f"experiment '{name}' not found")
        await core.state.delete_experiment(name)
        core.traffic.forget(name)
    log.info("experiment stopped", experiment=name)
    core.changes.bump()
