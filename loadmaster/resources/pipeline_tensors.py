"""check_tensors: the pipeline rules only the models' declared tensor names can judge.

A spec can be well formed and still name an output its model does not have, or hand a model a
tensor under a name it does not take. Those facts arrive with the models (each Available
replica reports its signature), so the scheduler runs this check when it computes a pipeline's
state and turns what it finds into PipelineFailed with the first problem as reason. Models it
knows nothing about are skipped, and so is a model that declares no tensors at all: a model
without a signature is not a model with no inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loadmaster.resources.pipeline_graph import parsed_refs, step_inputs
from loadmaster.resources.pipeline_refs import TensorRef, parse_ref
from loadmaster.resources.pipeline_spec import JoinType, PipelineSpec, PipelineStep


@dataclass(frozen=True, slots=True)
class ModelTensors:
    """The declared tensor names of a model's current version; empty means not declared."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Arrival:
    """One tensor a step's model would receive: its name there, the reference that brings it
    and the tensorMap key that would rename it."""

    name: str
    ref: TensorRef
    key: str


class _Checker:
    def __init__(self, spec: PipelineSpec, tensors: Mapping[str, ModelTensors]) -> None:
        self._model_of = {s.name: s.model for s in spec.steps}
        self._tensors = tensors
        self.problems: list[str] = []

    def declared_outputs(self, source: str) -> tuple[str, ...]:
        known = self._tensors.get(self._model_of.get(source, ""))
        return known.outputs if known is not None else ()

    def check_ref(self, path: str, text: str) -> None:
        try:
            ref = parse_ref(text)
        except ValueError:
            return  # check_pipeline's business
        outputs = self.declared_outputs(ref.source)
        if ref.from_pipeline or not ref.tensor or not outputs or ref.tensor in outputs:
            return
        self.problems.append(
            f"{path}: {text!r}: model {self._model_of[ref.source]!r} declares no output "
            f"{ref.tensor!r} (it has: {', '.join(outputs)})"
        )

    def arrivals(self, step: PipelineStep) -> list[_Arrival]:
        """What the step's model would receive, as far as it is knowable."""
        renamed = dict(step.tensor_map)
        found: list[_Arrival] = []
        for ref in parsed_refs(step_inputs(step)):
            if ref.tensor:
                found.append(_Arrival(renamed.get(ref.text, ref.tensor), ref, ref.text))
            elif not ref.from_pipeline:
                for tensor in self.declared_outputs(ref.source):
                    key = TensorRef(ref.source, tensor).text
                    found.append(_Arrival(renamed.get(key, tensor), ref, key))
        return found

    def check_arrivals(self, path: str, step: PipelineStep) -> None:
        arrivals = self.arrivals(step)
        first: dict[str, _Arrival] = {}
        for arrival in arrivals:
            other = first.setdefault(arrival.name, arrival)
            if step.inputs_join is JoinType.ANY:  # one source's tensors only: names may repeat
                continue
            if other.ref != arrival.ref and not (other.ref.tensor and arrival.ref.tensor):
                self.problems.append(
                    f"{path}.inputs: {other.ref.text!r} and {arrival.ref.text!r} both yield "
                    f"tensor {arrival.name!r}; rename one with tensorMap "
                    f"{{{arrival.key}: NEW_NAME}}"
                )
        known = self._tensors.get(step.model)
        if known is None or not known.inputs:
            return
        names = {a.name for a in arrivals}
        spare = [t for t in known.inputs if t not in names]
        target = spare[0] if len(spare) == 1 else "INPUT"
        renamed = dict(step.tensor_map)
        for arrival in arrivals:
            if arrival.name in known.inputs:
                continue
            via = f" (tensorMap renames {arrival.key!r} to it)" if arrival.key in renamed else ""
            self.problems.append(
                f"{path}: model {step.model!r} takes inputs ({', '.join(known.inputs)}) but "
                f"would receive {arrival.name!r}{via}; map it with tensorMap "
                f"{{{arrival.key}: {target}}}"
            )


def check_tensors(spec: PipelineSpec, tensors: Mapping[str, ModelTensors]) -> list[str]:
    """Every disagreement between the spec and the declared tensors of the models in
    `tensors` (keyed by model name), each as `field.path: problem`; run it on a spec that
    `check_pipeline` accepts."""
    checker = _Checker(spec, tensors)
    for index, step in enumerate(spec.steps):
        path = f"spec.steps[{index}]"
        for field in ("inputs", "triggers"):
            texts: tuple[str, ...] = getattr(step, field)
            for at, text in enumerate(texts):
                checker.check_ref(f"{path}.{field}[{at}]", text)
        for key, _ in step.tensor_map:
            checker.check_ref(f"{path}.tensorMap", key)
        checker.check_arrivals(path, step)
    for at, text in enumerate(spec.output.steps):
        checker.check_ref(f"spec.output.steps[{at}]", text)
    for key, _ in spec.output.tensor_map:
        checker.check_ref("spec.output.tensorMap", key)
    return checker.problems
