"""Pipeline lifecycle requests from the admin API: load (or change) one, unload one.

Both return once the change is stored and wake the route subscribers, so gateways and pipeline
workers pick the pipeline up (or drop it) at once. Loading again with an identical spec changes
nothing (same version, no wake); any change of the spec makes the next version. The models the
steps call need not exist yet: the pipeline waits for them (`PipelineWaiting`).

Static mistakes (an unknown step, a cycle, a bad reference) are refused here with every problem
`check_pipeline` finds; what only the models' declared tensors reveal shows as `PipelineFailed`
in the status instead, since it can change when a model is loaded again.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadmaster import logs
from loadmaster.resources.pipeline_check import check_pipeline
from loadmaster.resources.pipeline_spec import PipelineSpec
from scheduler.core import SchedulerCore
from scheduler.model_admin import InvalidSpec
from scheduler.pipeline_records import PipelineRecord

log = logs.get_logger("scheduler.pipelines")


class UnknownPipeline(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Loaded:
    version: int
    changed: bool


async def load_pipeline(core: SchedulerCore, spec: PipelineSpec) -> Loaded:
    problems = check_pipeline(spec)
    if problems:
        raise InvalidSpec("; ".join(problems))
    async with core.mutex:
        current = core.state.pipelines.get(spec.name)
        if current is not None and current.spec == spec:
            return Loaded(current.version, False)
        version = 1 if current is None else current.version + 1
        await core.state.put_pipeline(PipelineRecord(spec, version))
    log.info(
        "pipeline loaded" if current is None else "pipeline changed",
        pipeline=spec.name,
        version=version,
        models=list(spec.models),
    )
    core.changes.bump()
    return Loaded(version, True)


async def unload_pipeline(core: SchedulerCore, name: str) -> None:
    async with core.mutex:
        if name not in core.state.pipelines:
            raise UnknownPipeline(f"pipeline '{name}' not found")
        await core.state.delete_pipeline(name)
    log.info("pipeline unloaded", pipeline=name)
    core.changes.bump()
