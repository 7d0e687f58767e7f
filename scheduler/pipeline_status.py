"""A pipeline's status, derived from the states and declared tensors of the models it calls.

Pure, like `scheduler.experiment_status`: the same inputs give the same status, so it is
computed on demand (status calls, every route table) and never stored. The rules, in order:

* `PipelineFailed` when the models' declared tensors contradict the spec (`check_tensors`):
  a reference to an output the model does not have will not start working by waiting, so it
  is failed even while other models are still loading; the reason lists every problem.
* `PipelineReady` when every step's model can take a request (an Available replica on a server
  that is not Lost, as for routes and experiments).
* `PipelineWaiting` otherwise, naming each model it waits for and that model's state, e.g.
  `waiting for models: b (ModelProgressing), c (not loaded)`.

Only models that can take a request contribute tensors: what a model declares is known once a
replica of it is loaded, and a model that declares nothing is not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loadmaster.resources.pipeline_check import ModelTensors, check_tensors
from loadmaster.resources.pipeline_spec import PipelineSpec
from loadmaster.resources.pipeline_state import PipelineState
from scheduler.experiment_status import MISSING, ModelReadiness
from scheduler.pipeline_records import PipelineRecord

NOT_LOADED = "not loaded"


@dataclass(frozen=True, slots=True)
class StepView:
    name: str
    model: str
    model_state: str  # empty when the scheduler has no such model
    ready: bool


@dataclass(frozen=True, slots=True)
class PipelineView:
    name: str
    version: int
    state: PipelineState
    reason: str
    spec: PipelineSpec
    steps: tuple[StepView, ...]


def summarize_pipeline(
    record: PipelineRecord,
    models: Mapping[str, ModelReadiness],
    tensors: Mapping[str, ModelTensors],
) -> PipelineView:
    """`models`: readiness of the models the scheduler has (others are not loaded);
    `tensors`: declared tensors of the models that are known, by model name."""
    spec = record.spec
    steps = tuple(
        StepView(
            name=s.name,
            model=s.model,
            model_state=models.get(s.model, MISSING).state,
            ready=models.get(s.model, MISSING).ready,
        )
        for s in spec.steps
    )
    problems = check_tensors(spec, tensors)
    waiting = _waiting_for(spec, models)
    if problems:
        state, reason = PipelineState.FAILED, "; ".join(problems)
    elif waiting:
        state, reason = PipelineState.WAITING, "waiting for models: " + ", ".join(waiting)
    else:
        state, reason = PipelineState.READY, ""
    return PipelineView(
        name=spec.name,
        version=record.version,
        state=state,
        reason=reason,
        spec=spec,
        steps=steps,
    )


def _waiting_for(spec: PipelineSpec, models: Mapping[str, ModelReadiness]) -> list[str]:
    """`b (ModelProgressing)` for each model that cannot take a request, once, in step order."""
    waiting = []
    for name in spec.models:
        readiness = models.get(name, MISSING)
        if not readiness.ready:
            waiting.append(f"{name} ({readiness.state or NOT_LOADED})")
    return waiting
