"""The `spec` of a Pipeline document read into a `PipelineSpec`, every problem collected.

Field names are Seldon Core v2's (`steps[].inputs/tensorMap/inputsJoinType/joinWindowMs/
triggers/triggersJoinType`, `output.steps/tensorMap/stepsJoin/joinWindowMs`), so its Pipeline
documents apply unchanged; `inputsJoin`, a spelling found in the wild, is read as
`inputsJoinType`, and giving both is refused rather than one silently winning. A step's `model`
defaults to the step's name, as in Seldon. The spec is finished with `check_pipeline`, the rules
the scheduler applies too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadmaster.resources import yaml_fields as f
from loadmaster.resources.pipeline_check import check_pipeline
from loadmaster.resources.pipeline_spec import (
    JoinType,
    PipelineOutput,
    PipelineSpec,
    PipelineStep,
    TensorMap,
    tensor_map_of,
)

SPEC_FIELDS = ("steps", "output", "keepTopics")
STEP_FIELDS = (
    "name",
    "model",
    "inputs",
    "tensorMap",
    "inputsJoinType",
    "inputsJoin",
    "joinWindowMs",
    "triggers",
    "triggersJoinType",
)
OUTPUT_FIELDS = ("steps", "tensorMap", "stepsJoin", "joinWindowMs")


def parse_pipeline_spec(name: str, raw: Mapping[Any, Any], fields: f.Fields) -> PipelineSpec:
    fields.unknown(raw, SPEC_FIELDS, "spec.")
    get = f.Getter(raw, fields)
    spec = PipelineSpec(
        name=name,
        steps=_steps(raw.get("steps"), fields),
        output=_output(raw.get("output"), fields),
        keep_topics=get("keepTopics", boolean, False),
    )
    fields.add_checks(check_pipeline(spec))
    return spec


def _steps(value: object, fields: f.Fields) -> tuple[PipelineStep, ...]:
    path = "spec.steps"
    if not isinstance(value, list):
        if value is None:
            fields.problem(path, "required: a list of steps, each at least {name, model}")
        else:
            fields.problem(path, f"expected a list of steps, got {f.shown(value)}")
        fields.bad.update(("spec.output.steps", "spec.output.tensorMap"))  # name unknown steps
        return ()
    return tuple(_step(f"{path}[{index}]", item, fields) for index, item in enumerate(value))


def _step(path: str, item: object, fields: f.Fields) -> PipelineStep:
    if not isinstance(item, Mapping):
        fields.problem(path, f"expected a mapping with name and model, got {f.shown(item)}")
        return PipelineStep(name="", model="")  # keeps the indexes of the others
    fields.unknown(item, STEP_FIELDS, f"{path}.")
    get = f.Getter(item, fields, prefix=f"{path}.")
    name = get("name", f.string, "")
    if item.get("name") is None:
        fields.problem(f"{path}.name", "required: the step's name")
    join_key = "inputsJoinType"
    if item.get("inputsJoin") is not None:
        if item.get("inputsJoinType") is not None:
            fields.problem(
                f"{path}.inputsJoin", "give inputsJoinType or its alias inputsJoin, not both"
            )
        else:
            join_key = "inputsJoin"
    return PipelineStep(
        name=name,
        model=get("model", f.string, name),
        inputs=get("inputs", references, ()),
        tensor_map=get("tensorMap", tensor_map, ()),
        inputs_join=get(join_key, join_type, JoinType.INNER),
        join_window_ms=get("joinWindowMs", f.integer, 0),
        triggers=get("triggers", references, ()),
        triggers_join=get("triggersJoinType", join_type, JoinType.INNER),
    )


def _output(value: object, fields: f.Fields) -> PipelineOutput:
    path = "spec.output"
    if value is None:
        return PipelineOutput()
    if not isinstance(value, Mapping):
        fields.problem(path, f"expected a mapping with steps, got {f.shown(value)}")
        return PipelineOutput()
    fields.unknown(value, OUTPUT_FIELDS, f"{path}.")
    get = f.Getter(value, fields, prefix=f"{path}.")
    return PipelineOutput(
        steps=get("steps", references, ()),
        tensor_map=get("tensorMap", tensor_map, ()),
        steps_join=get("stepsJoin", join_type, JoinType.INNER),
        join_window_ms=get("joinWindowMs", f.integer, 0),
    )


def references(value: object) -> tuple[str, ...]:
    """A list of references as written, order kept (`check_pipeline` judges each)."""
    if not isinstance(value, list):
        raise ValueError(
            f"expected a list of references such as [step.outputs.tensor], got {f.shown(value)}"
        )
    wrong = [
        (f"[{i}]", f"expected a reference such as step.outputs.tensor, got {f.shown(v)}")
        for i, v in enumerate(value)
        if not isinstance(v, str)
    ]
    if wrong:
        raise f.ItemProblems(wrong)
    return tuple(str(v) for v in value)


def tensor_map(value: object) -> TensorMap:
    """`{step.outputs.tensor: new_name}`: both sides strings."""
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping of references to tensor names, got {f.shown(value)}")
    wrong: list[tuple[str, str]] = []
    for key, name in value.items():
        if not isinstance(key, str):
            wrong.append(("", f"expected references as keys, got {f.shown(key)}"))
        elif not isinstance(name, str):
            wrong.append((f".{key}", f"expected a tensor name, got {f.shown(name)}"))
    if wrong:
        raise f.ItemProblems(wrong)
    return tensor_map_of({str(k): str(v) for k, v in value.items()})


def join_type(value: object) -> JoinType:
    words = ", ".join(j.value for j in JoinType)
    if not isinstance(value, str) or value not in {j.value for j in JoinType}:
        raise ValueError(f"expected one of {words}, got {f.shown(value)}")
    return JoinType(value)


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {f.shown(value)}")
    return value
