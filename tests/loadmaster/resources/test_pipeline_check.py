"""check_pipeline (static rules, shared by the CLI and the scheduler) and check_tensors (the
rules only the models' declared tensors can judge): one case per rule, exact messages."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loadmaster.resources import (
    JoinType,
    ModelTensors,
    PipelineOutput,
    PipelineSpec,
    PipelineStep,
    check_pipeline,
    check_tensors,
)


def step(
    name: str,
    *inputs: str,
    model: str = "",
    tensor_map: dict[str, str] | None = None,
    triggers: tuple[str, ...] = (),
    window_ms: int = 0,
) -> PipelineStep:
    return PipelineStep(
        name=name,
        model=model or name,
        inputs=inputs,
        tensor_map=tuple((tensor_map or {}).items()),
        triggers=triggers,
        join_window_ms=window_ms,
    )


def pipeline(
    *steps: PipelineStep,
    name: str = "p",
    output: tuple[str, ...] = (),
    output_map: dict[str, str] | None = None,
    output_window_ms: int = 0,
) -> PipelineSpec:
    return PipelineSpec(
        name=name,
        steps=steps,
        output=PipelineOutput(
            steps=output,
            tensor_map=tuple((output_map or {}).items()),
            join_window_ms=output_window_ms,
        ),
    )


CHAIN = pipeline(
    step("first", model="identity"),
    step("second", "first.outputs.y", model="identity", tensor_map={"first.outputs.y": "x"}),
)

VALID = [
    pytest.param(pipeline(step("a")), id="one-step-default-inputs"),
    pytest.param(CHAIN, id="chain-with-tensor-map"),
    pytest.param(
        pipeline(step("a"), step("b", "a"), step("c", "a.outputs", "b.outputs.y")), id="ref-forms"
    ),
    pytest.param(
        pipeline(
            step("a", "pipeline.inputs.x"),
            step("b", "pipeline.inputs", triggers=("a.outputs.go",), window_ms=3_600_000),
            output=("a", "b.outputs.z", "pipeline.inputs.x"),
            output_map={"b.outputs.z": "answer", "a.outputs.q": "q"},
        ),
        id="triggers-windows-output",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "a.outputs.y", "pipeline.inputs.x")),
        id="pipeline-and-step-inputs",
    ),
    pytest.param(
        pipeline(
            step("a"),
            step("b"),
            step("c", "a.outputs.y", "b.outputs.y", tensor_map={"b.outputs.y": "y2"}),
        ),
        id="collision-resolved-by-map",
    ),
]


@pytest.mark.parametrize("spec", VALID)
def test_valid(spec: PipelineSpec) -> None:
    assert check_pipeline(spec) == []


INVALID = [
    pytest.param(pipeline(step("a"), name=""), ["metadata.name: must not be empty"], id="no-name"),
    pytest.param(
        pipeline(step("a"), name="my pipe"),
        [
            "metadata.name: 'my pipe' is not a valid name: use letters, digits, '_', '.', '-' "
            "(at most 128), starting with a letter or digit"
        ],
        id="bad-name",
    ),
    pytest.param(pipeline(), ["spec.steps: at least one step is required"], id="no-steps"),
    pytest.param(
        pipeline(step("a b", model="m")),
        [
            "spec.steps[0].name: 'a b' is not a valid step name: use letters, digits, '_', '.', "
            "'-' (at most 128), starting with a letter or digit"
        ],
        id="bad-step-name",
    ),
    pytest.param(
        pipeline(step("pipeline", model="m")),
        [
            "spec.steps[0].name: 'pipeline' is reserved for the pipeline's inputs "
            "(pipeline.inputs); name the step otherwise"
        ],
        id="step-named-pipeline",
    ),
    pytest.param(
        pipeline(step("a.b", model="m")),
        [
            "spec.steps[0].name: 'a.b': a step name may not contain '.', because references "
            "(STEP.outputs.TENSOR) split at the first dot"
        ],
        id="step-name-with-dot",
    ),
    pytest.param(
        pipeline(step("a", model="m/1")),
        [
            "spec.steps[0].model: 'm/1' is not a valid model name: use letters, digits, '_', "
            "'.', '-' (at most 128), starting with a letter or digit"
        ],
        id="bad-model-name",
    ),
    pytest.param(
        pipeline(step("a"), step("b"), step("a", model="m")),
        ["spec.steps[2].name: duplicate step 'a' (also spec.steps[0])"],
        id="duplicate-step",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "a.inputs.y")),
        [
            "spec.steps[1].inputs[0]: 'a.inputs.y': a step offers only its outputs "
            "(a.outputs[.TENSOR]), not 'inputs'"
        ],
        id="reference-does-not-parse",
    ),
    pytest.param(
        pipeline(step("first"), step("second", "frist.outputs.y")),
        [
            "spec.steps[1].inputs[0]: 'frist.outputs.y' names no step 'frist' (did you mean "
            "first? steps: first, second, or pipeline.inputs)"
        ],
        id="unknown-step-with-suggestion",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "a", triggers=("zzz.outputs.go",))),
        [
            "spec.steps[1].triggers[0]: 'zzz.outputs.go' names no step 'zzz' (steps: a, b, or "
            "pipeline.inputs)"
        ],
        id="unknown-trigger-step",
    ),
    pytest.param(
        pipeline(step("a", "pipeline.inputs", "a.outputs.y")),
        ["spec.steps[0].inputs[1]: 'a.outputs.y': a step cannot take its own outputs"],
        id="self-reference",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "a", "a")),
        ["spec.steps[1].inputs[1]: 'a' is already spec.steps[1].inputs[0]"],
        id="duplicate-reference",
    ),
    pytest.param(
        pipeline(step("a", "pipeline.inputs", "c"), step("b", "a"), step("c", "b")),
        ["spec.steps: steps form a cycle: a -> b -> c -> a"],
        id="cycle",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "c"), step("c", "b.outputs.y")),
        ["spec.steps: steps form a cycle: b -> c -> b"],
        id="cycle-not-reported-as-unreachable",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "a", tensor_map={"a.outputs": "x"})),
        [
            "spec.steps[1].tensorMap: 'a.outputs' names no tensor; a key names one "
            "(a.outputs.TENSOR)"
        ],
        id="map-key-without-tensor",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "a", tensor_map={"a.output.y": "x"})),
        [
            "spec.steps[1].tensorMap: 'a.output.y': a step offers only its outputs "
            "(a.outputs[.TENSOR]), not 'output'"
        ],
        id="map-key-not-a-reference",
    ),
    pytest.param(
        pipeline(step("a"), step("b"), step("c", "a.outputs.y", tensor_map={"b.outputs.y": "x"})),
        ["spec.steps[2].tensorMap: 'b.outputs.y' is not among the step's inputs or triggers"],
        id="map-key-for-source-not-taken",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "a.outputs.y", tensor_map={"a.outputs.z": "x"})),
        ["spec.steps[1].tensorMap: 'a.outputs.z' is not among the step's inputs or triggers"],
        id="map-key-for-tensor-not-taken",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "a", tensor_map={"a.outputs.y": ""})),
        ["spec.steps[1].tensorMap: 'a.outputs.y' maps to an empty name"],
        id="map-value-empty",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "a", tensor_map={"a.outputs.y": "x", "a.outputs.z": "x"})),
        [
            "spec.steps[1].tensorMap: 'a.outputs.y' and 'a.outputs.z' both map to 'x'; give "
            "each its own name"
        ],
        id="map-values-collide",
    ),
    pytest.param(
        pipeline(step("a"), step("b"), step("c", "a.outputs.y", "b.outputs.y")),
        [
            "spec.steps[2].inputs: 'a.outputs.y' and 'b.outputs.y' would both reach the model "
            "as 'y'; rename one with tensorMap"
        ],
        id="named-inputs-collide",
    ),
    pytest.param(
        pipeline(step("a", window_ms=-1), step("b", "a", window_ms=3_600_001)),
        [
            "spec.steps[0].joinWindowMs: must be from 0 to 3600000 (one hour), got -1",
            "spec.steps[1].joinWindowMs: must be from 0 to 3600000 (one hour), got 3600001",
        ],
        id="step-join-windows",
    ),
    pytest.param(
        pipeline(step("a"), output=("a", "b.outputs.y")),
        ["spec.output.steps[1]: 'b.outputs.y' names no step 'b' (steps: a, or pipeline.inputs)"],
        id="output-unknown-step",
    ),
    pytest.param(
        pipeline(step("a"), output=("a.outputs.y",), output_map={"pipeline.inputs.x": "x"}),
        ["spec.output.tensorMap: 'pipeline.inputs.x' is not among the spec.output.steps"],
        id="output-map-key-not-taken",
    ),
    pytest.param(
        pipeline(step("a"), output_window_ms=4_000_000),
        ["spec.output.joinWindowMs: must be from 0 to 3600000 (one hour), got 4000000"],
        id="output-join-window",
    ),
    pytest.param(
        pipeline(step("a"), step("b", "c.outputs.y"), step("c", "zz"), step("d", "b")),
        [
            "spec.steps[2].inputs[0]: 'zz' names no step 'zz' (steps: a, b, c, d, or "
            "pipeline.inputs)",
            "spec.steps: not reachable from pipeline.inputs: b, d (a step must take "
            "pipeline.inputs or the outputs of a step that does)",
        ],
        id="unreachable-steps",
    ),
]


@pytest.mark.parametrize(("spec", "problems"), INVALID)
def test_invalid(spec: PipelineSpec, problems: list[str]) -> None:
    assert check_pipeline(spec) == problems


def test_every_problem_in_one_run() -> None:
    spec = pipeline(PipelineStep("pipeline", ""), step("b", "nope"), name="")
    assert [p.partition(":")[0] for p in check_pipeline(spec)] == [
        "metadata.name",
        "spec.steps[0].name",
        "spec.steps[0].model",
        "spec.steps[1].inputs[0]",
    ]


def test_join_types_are_not_checked_twice() -> None:
    spec = PipelineSpec(
        name="p",
        steps=(PipelineStep("a", "a", inputs_join=JoinType.ANY, triggers_join=JoinType.OUTER),),
        output=PipelineOutput(steps_join=JoinType.OUTER),
    )
    assert check_pipeline(spec) == []


IDENTITY = ModelTensors(inputs=("x",), outputs=("y",))
TWO_OUT = ModelTensors(inputs=("x",), outputs=("y", "z"))

TENSOR_VALID = [
    pytest.param(CHAIN, {"identity": IDENTITY}, id="chain-mapped"),
    pytest.param(
        pipeline(step("a", model="m"), step("b", "a", model="n", tensor_map={"a.outputs.y": "x"})),
        {"m": IDENTITY, "n": IDENTITY},
        id="whole-source-mapped",
    ),
    pytest.param(
        pipeline(step("a", model="m"), step("b", "a", model="n")),
        {"n": IDENTITY},
        id="unknown-source-model-skipped",
    ),
    pytest.param(
        pipeline(step("a", model="m"), step("b", "a.outputs.y", model="n")),
        {"m": IDENTITY, "n": ModelTensors((), ())},
        id="model-without-signature-skipped",
    ),
    pytest.param(
        pipeline(step("a", "pipeline.inputs", model="m")),
        {"m": IDENTITY},
        id="pipeline-inputs-unknown",
    ),
]


@pytest.mark.parametrize(("spec", "tensors"), TENSOR_VALID)
def test_tensors_valid(spec: PipelineSpec, tensors: dict[str, ModelTensors]) -> None:
    assert check_tensors(spec, tensors) == []


TENSOR_INVALID = [
    pytest.param(
        pipeline(step("a", model="m"), step("b", "a.outputs.z", model="n")),
        {"m": IDENTITY},
        ["spec.steps[1].inputs[0]: 'a.outputs.z': model 'm' declares no output 'z' (it has: y)"],
        id="input-names-undeclared-output",
    ),
    pytest.param(
        pipeline(step("a", model="m"), step("b", "a", model="n", triggers=("a.outputs.go",))),
        {"m": IDENTITY},
        [
            "spec.steps[1].triggers[0]: 'a.outputs.go': model 'm' declares no output 'go' "
            "(it has: y)"
        ],
        id="trigger-names-undeclared-output",
    ),
    pytest.param(
        pipeline(step("a", model="m"), output=("a.outputs.q",)),
        {"m": TWO_OUT},
        ["spec.output.steps[0]: 'a.outputs.q': model 'm' declares no output 'q' (it has: y, z)"],
        id="output-names-undeclared-output",
    ),
    pytest.param(
        pipeline(step("a", model="m"), step("b", "a.outputs.y", model="n")),
        {"m": IDENTITY, "n": IDENTITY},
        [
            "spec.steps[1]: model 'n' takes inputs (x) but would receive 'y'; map it with "
            "tensorMap {a.outputs.y: x}"
        ],
        id="named-input-not-declared",
    ),
    pytest.param(
        pipeline(step("a", model="m"), step("b", "a", model="n")),
        {"m": IDENTITY, "n": IDENTITY},
        [
            "spec.steps[1]: model 'n' takes inputs (x) but would receive 'y'; map it with "
            "tensorMap {a.outputs.y: x}"
        ],
        id="whole-source-input-not-declared",
    ),
    pytest.param(
        pipeline(step("a", model="m"), step("b", "a", model="n", tensor_map={"a.outputs.y": "w"})),
        {"m": IDENTITY, "n": IDENTITY},
        [
            "spec.steps[1]: model 'n' takes inputs (x) but would receive 'w' (tensorMap renames "
            "'a.outputs.y' to it); map it with tensorMap {a.outputs.y: x}"
        ],
        id="mapped-to-wrong-name",
    ),
    pytest.param(
        pipeline(step("a", model="m"), step("b", model="m"), step("c", "a", "b", model="k")),
        {"m": IDENTITY},
        [
            "spec.steps[2].inputs: 'a.outputs' and 'b.outputs' both yield tensor 'y'; rename "
            "one with tensorMap {b.outputs.y: NEW_NAME}"
        ],
        id="whole-sources-collide",
    ),
]


@pytest.mark.parametrize(("spec", "tensors", "problems"), TENSOR_INVALID)
def test_tensors_invalid(
    spec: PipelineSpec, tensors: dict[str, ModelTensors], problems: list[str]
) -> None:
    assert check_tensors(spec, tensors) == problems


def test_an_any_join_may_take_the_same_name_from_each_source() -> None:
    """Only the first source to arrive is passed on, so both may map to the model's input."""
    any_join = PipelineSpec(
        name="p",
        steps=(
            PipelineStep(name="a", model="m"),
            PipelineStep(name="b", model="m"),
            PipelineStep(
                name="c",
                model="m",
                inputs=("a.outputs.y", "b.outputs.y"),
                tensor_map=(("a.outputs.y", "x"), ("b.outputs.y", "x")),
                inputs_join=JoinType.ANY,
            ),
        ),
    )
    assert check_pipeline(any_join) == []
    inner = replace(
        any_join,
        steps=(*any_join.steps[:2], replace(any_join.steps[2], inputs_join=JoinType.INNER)),
    )
    assert any("both map to 'x'" in p for p in check_pipeline(inner))
