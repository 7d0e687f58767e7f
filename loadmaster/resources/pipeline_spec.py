"""PipelineSpec: the Pipeline resource's spec as one frozen record every part shares.

A pipeline chains models: each step sends its inputs to a model and publishes the model's
outputs, which later steps (and the pipeline's answer) take as inputs. Field names follow
Seldon Core v2 so its Pipeline documents apply unchanged. The CLI builds the record from YAML,
the admin API carries it as `loadmaster.scheduler.v1.PipelineSpec`, the scheduler stores it and
checks it, and gateways and pipeline workers run it.

References stay as written (`a.outputs.y`) in the record, so what status shows is what the user
wrote; `pipeline_refs.parse_ref` turns one into a `TensorRef` for the code that runs them.
Tensor maps are kept as sorted pairs so two equal specs compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from loadmaster.generated.scheduler.v1 import admin_pb2


class JoinType(StrEnum):
    """How a step waits for the sources it names.

    inner: for every source; outer: for every source or until the join window closes, then with
    what arrived; any: for the first source that arrives.
    """

    INNER = "inner"
    OUTER = "outer"
    ANY = "any"


TensorMap = tuple[tuple[str, str], ...]


def tensor_map_of(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> TensorMap:
    """A tensor map as sorted (reference, new name) pairs."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted((str(k), str(v)) for k, v in items))


@dataclass(frozen=True, slots=True)
class PipelineStep:
    """`model` defaults to the step's name in YAML (as in Seldon Core v2, where a step is named
    after its model); empty `inputs` means the pipeline's inputs."""

    name: str
    model: str
    inputs: tuple[str, ...] = ()
    tensor_map: TensorMap = ()
    inputs_join: JoinType = JoinType.INNER
    join_window_ms: int = 0
    triggers: tuple[str, ...] = ()
    triggers_join: JoinType = JoinType.INNER

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "tensor_map", tensor_map_of(self.tensor_map))
        object.__setattr__(self, "triggers", tuple(self.triggers))


@dataclass(frozen=True, slots=True)
class PipelineOutput:
    """Empty `steps` means the outputs of the last step in the spec."""

    steps: tuple[str, ...] = ()
    tensor_map: TensorMap = ()
    steps_join: JoinType = JoinType.INNER
    join_window_ms: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "tensor_map", tensor_map_of(self.tensor_map))


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    name: str
    steps: tuple[PipelineStep, ...]
    output: PipelineOutput = field(default_factory=PipelineOutput)
    keep_topics: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))

    @property
    def models(self) -> tuple[str, ...]:
        """The models the steps call, each once, in step order."""
        return tuple(dict.fromkeys(s.model for s in self.steps))

    def step(self, name: str) -> PipelineStep | None:
        return next((s for s in self.steps if s.name == name), None)


def parse_join(text: str, path: str) -> JoinType:
    """A join type from its word; empty reads as inner. Raises ValueError naming `path`."""
    try:
        return JoinType(text or JoinType.INNER.value)
    except ValueError:
        words = ", ".join(j.value for j in JoinType)
        raise ValueError(f"{path}: expected one of {words}, got {text!r}") from None


def pipeline_to_proto(spec: PipelineSpec) -> admin_pb2.PipelineSpec:
    return admin_pb2.PipelineSpec(
        name=spec.name,
        steps=[
            admin_pb2.PipelineStep(
                name=s.name,
                model=s.model,
                inputs=list(s.inputs),
                tensor_map=dict(s.tensor_map),
                inputs_join=s.inputs_join.value,
                join_window_ms=s.join_window_ms,
                triggers=list(s.triggers),
                triggers_join=s.triggers_join.value,
            )
            for s in spec.steps
        ],
        output=admin_pb2.PipelineOutput(
            steps=list(spec.output.steps),
            tensor_map=dict(spec.output.tensor_map),
            steps_join=spec.output.steps_join.value,
            join_window_ms=spec.output.join_window_ms,
        ),
        keep_topics=spec.keep_topics,
    )


def pipeline_from_proto(message: admin_pb2.PipelineSpec) -> PipelineSpec:
    """Raises ValueError for a join word that is not inner, outer or any."""
    out = message.output
    return PipelineSpec(
        name=message.name,
        steps=tuple(
            PipelineStep(
                name=s.name,
                model=s.model,
                inputs=tuple(s.inputs),
                tensor_map=tensor_map_of(s.tensor_map),
                inputs_join=parse_join(s.inputs_join, f"spec.steps[{i}].inputsJoinType"),
                join_window_ms=s.join_window_ms,
                triggers=tuple(s.triggers),
                triggers_join=parse_join(s.triggers_join, f"spec.steps[{i}].triggersJoinType"),
            )
            for i, s in enumerate(message.steps)
        ),
        output=PipelineOutput(
            steps=tuple(out.steps),
            tensor_map=tensor_map_of(out.tensor_map),
            steps_join=parse_join(out.steps_join, "spec.output.stepsJoin"),
            join_window_ms=out.join_window_ms,
        ),
        keep_topics=message.keep_topics,
    )
