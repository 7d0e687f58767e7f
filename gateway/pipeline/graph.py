"""A pipeline spec compiled once into the graph the dataflow worker runs.

The spec says, per step, where its inputs come from; the dataflow worker needs the reverse:
when a source (the pipeline's request, or one step's answer) arrives, which targets take it.
A *target* is anything that joins sources and then fires: every step, and the pipeline's
answer (the output), which is a target like the steps but without a model and without
triggers. Compiling parses every reference once, so the worker never re-parses text per
record, and refuses a spec whose references name steps that do not exist (the scheduler
refuses those at load; a worker that met one anyway must not act on half a graph).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from loadmaster.resources.pipeline_graph import output_refs, step_inputs
from loadmaster.resources.pipeline_refs import TensorRef, parse_ref
from loadmaster.resources.pipeline_spec import JoinType, PipelineSpec, TensorMap

OUTPUT = ""  # the target name of the pipeline's answer: no step can have an empty name


class GraphError(ValueError):
    """The spec cannot run: a reference is malformed or names no step of the pipeline."""


@dataclass(frozen=True, slots=True)
class Target:
    """A step (or the output, `name == OUTPUT`): what it joins, how, and how it renames.

    `input_sources` and `trigger_sources` are the distinct sources of the references in
    written order; `sources` is both together, each once.
    """

    name: str
    model: str  # empty for the output
    inputs: tuple[TensorRef, ...]
    inputs_join: JoinType = JoinType.INNER
    window_ms: int = 0
    triggers: tuple[TensorRef, ...] = ()
    triggers_join: JoinType = JoinType.INNER
    tensor_map: TensorMap = ()
    input_sources: tuple[str, ...] = field(init=False)
    trigger_sources: tuple[str, ...] = field(init=False)
    sources: tuple[str, ...] = field(init=False)
    _renames: Mapping[str, str] = field(init=False, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        inputs = tuple(dict.fromkeys(ref.source for ref in self.inputs))
        triggers = tuple(dict.fromkeys(ref.source for ref in self.triggers))
        object.__setattr__(self, "input_sources", inputs)
        object.__setattr__(self, "trigger_sources", triggers)
        object.__setattr__(self, "sources", tuple(dict.fromkeys(inputs + triggers)))
        object.__setattr__(self, "_renames", dict(self.tensor_map))

    @property
    def is_output(self) -> bool:
        return self.name == OUTPUT

    @property
    def label(self) -> str:
        """How messages name the target: `step 'b'`, or `output`."""
        return "output" if self.is_output else f"step {self.name!r}"

    def renamed(self, ref: TensorRef, name: str) -> str:
        """The name tensor `name`, taken by reference `ref`, has at this target: the tensor
        map's entry for the one-tensor reference text (`a.outputs.y`), else `name`."""
        return self._renames.get(TensorRef(ref.source, name).text, name)


@dataclass(frozen=True, slots=True)
class PipelineGraph:
    """`targets` are the steps in spec order, then the output."""

    name: str
    targets: tuple[Target, ...]
    _takers: Mapping[str, tuple[Target, ...]] = field(compare=False, hash=False, repr=False)
    _by_name: Mapping[str, Target] = field(compare=False, hash=False, repr=False)

    @property
    def output(self) -> Target:
        return self.targets[-1]

    def takers(self, source: str) -> tuple[Target, ...]:
        """The targets that reference `source` (a step name or PIPELINE) as input or trigger."""
        return self._takers.get(source, ())

    def target(self, name: str) -> Target | None:
        return self._by_name.get(name)

    def step_model(self, step: str) -> str | None:
        """The model step `step` calls; None when the pipeline has no such step."""
        found = self._by_name.get(step) if step != OUTPUT else None
        return found.model if found is not None else None


def _refs(texts: tuple[str, ...], path: str, steps: Mapping[str, int], own: str) -> list[TensorRef]:
    refs: list[TensorRef] = []
    for index, text in enumerate(texts):
        where = f"{path}[{index}]"
        try:
            ref = parse_ref(text)
        except ValueError as exc:
            raise GraphError(f"{where}: {exc}") from None
        if not ref.from_pipeline and ref.source not in steps:
            known = ", ".join(steps) or "none"
            raise GraphError(f"{where}: {text!r} names no step of the pipeline (steps: {known})")
        if ref.source == own:
            raise GraphError(f"{where}: {text!r}: a step cannot take its own outputs")
        refs.append(ref)
    return refs


def compile_pipeline(spec: PipelineSpec) -> PipelineGraph:
    """The graph of `spec`; raises GraphError saying which reference is wrong and why."""
    if not spec.steps:
        raise GraphError(f"pipeline {spec.name!r} has no steps")
    steps = {step.name: index for index, step in enumerate(spec.steps)}
    targets: list[Target] = []
    for index, step in enumerate(spec.steps):
        path = f"spec.steps[{index}]"
        inputs = _refs(step_inputs(step), f"{path}.inputs", steps, step.name)
        targets.append(
            Target(
                name=step.name,
                model=step.model,
                inputs=tuple(inputs),
                inputs_join=step.inputs_join,
                window_ms=max(step.join_window_ms, 0),
                triggers=tuple(_refs(step.triggers, f"{path}.triggers", steps, step.name)),
                triggers_join=step.triggers_join,
                tensor_map=step.tensor_map,
            )
        )
    out = spec.output
    answer = _refs(output_refs(spec), "spec.output.steps", steps, OUTPUT)
    targets.append(
        Target(
            name=OUTPUT,
            model="",
            inputs=tuple(answer),
            inputs_join=out.steps_join,
            window_ms=max(out.join_window_ms, 0),
            tensor_map=out.tensor_map,
        )
    )
    takers: dict[str, list[Target]] = {}
    for target in targets:
        for source in target.sources:
            takers.setdefault(source, []).append(target)
    return PipelineGraph(
        name=spec.name,
        targets=tuple(targets),
        _takers={source: tuple(found) for source, found in takers.items()},
        _by_name={target.name: target for target in targets},
    )
