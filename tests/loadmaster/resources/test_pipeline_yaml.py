"""Pipeline documents from YAML: what parses to which spec, and the words of every refusal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from loadmaster.resources import (
    JoinType,
    PipelineOutput,
    PipelineSpec,
    PipelineStep,
    ResourceError,
    load_experiments,
    load_pipeline_files,
    load_pipelines,
)

SELDON = """\
apiVersion: mlops.seldon.io/v1alpha1
kind: Pipeline
metadata: {name: join, namespace: seldon-mesh}
spec:
  steps:
  - name: tfsimple1
  - name: tfsimple2
  - name: tfsimple3
    inputs:
    - tfsimple1.outputs.OUTPUT0
    - tfsimple2.outputs.OUTPUT1
    tensorMap:
      tfsimple1.outputs.OUTPUT0: INPUT0
      tfsimple2.outputs.OUTPUT1: INPUT1
    inputsJoinType: outer
    joinWindowMs: 500
  output:
    steps: [tfsimple3]
    stepsJoin: any
    joinWindowMs: 100
    tensorMap: {tfsimple3.outputs.OUTPUT0: answer}
"""


def test_a_seldon_document() -> None:
    (spec,) = load_pipelines(SELDON, "x.yaml")
    assert spec == PipelineSpec(
        name="join",
        steps=(
            PipelineStep("tfsimple1", "tfsimple1"),
            PipelineStep("tfsimple2", "tfsimple2"),
            PipelineStep(
                "tfsimple3",
                "tfsimple3",
                inputs=("tfsimple1.outputs.OUTPUT0", "tfsimple2.outputs.OUTPUT1"),
                tensor_map=(
                    ("tfsimple1.outputs.OUTPUT0", "INPUT0"),
                    ("tfsimple2.outputs.OUTPUT1", "INPUT1"),
                ),
                inputs_join=JoinType.OUTER,
                join_window_ms=500,
            ),
        ),
        output=PipelineOutput(
            steps=("tfsimple3",),
            tensor_map=(("tfsimple3.outputs.OUTPUT0", "answer"),),
            steps_join=JoinType.ANY,
            join_window_ms=100,
        ),
    )


def _doc(spec: str, name: str = "p", kind: str = "Pipeline") -> str:
    head = f"apiVersion: loadmaster.io/v1alpha1\nkind: {kind}\n"
    return f"{head}metadata: {{name: {name}}}\nspec: {spec}\n"


def test_triggers_alias_and_keep_topics() -> None:
    (spec,) = load_pipelines(
        _doc(
            "{steps: [{name: a, model: m}, {name: b, model: n, inputs: [a], triggers: "
            "[a.outputs.go], triggersJoinType: any, inputsJoin: any}], keepTopics: true}"
        )
    )
    assert spec.keep_topics
    assert spec.steps[1] == PipelineStep(
        "b",
        "n",
        inputs=("a",),
        triggers=("a.outputs.go",),
        triggers_join=JoinType.ANY,
        inputs_join=JoinType.ANY,
    )


W = "f.yaml: document 1 (Pipeline p): "
AB = "[{name: a}, {name: b, inputs: [a]}]"

ERRORS = [
    pytest.param(
        _doc(f"{{steps: {AB}, keeptopics: true}}"),
        [W + "spec.keeptopics: unknown field (did you mean keepTopics?)"],
        id="unknown-spec-field",
    ),
    pytest.param(
        _doc("{steps: [{name: a, tensorMpa: {}}]}"),
        [W + "spec.steps[0].tensorMpa: unknown field (did you mean tensorMap?)"],
        id="unknown-step-field",
    ),
    pytest.param(
        _doc(f"{{steps: {AB}, output: {{steps: [b], join: any}}}}"),
        [W + "spec.output.join: unknown field (did you mean stepsJoin?)"],
        id="unknown-output-field",
    ),
    pytest.param(
        _doc("{output: {steps: [a]}}"),
        [W + "spec.steps: required: a list of steps, each at least {name, model}"],
        id="no-steps",
    ),
    pytest.param(
        _doc("{steps: a}"),
        [W + "spec.steps: expected a list of steps, got 'a'"],
        id="steps-not-a-list",
    ),
    pytest.param(
        _doc("{steps: [a, {name: b}]}"),
        [W + "spec.steps[0]: expected a mapping with name and model, got 'a'"],
        id="step-not-a-mapping",
    ),
    pytest.param(
        _doc("{steps: [{model: m}]}"),
        [W + "spec.steps[0].name: required: the step's name"],
        id="step-without-name",
    ),
    pytest.param(
        _doc("{steps: [{name: a, model: 3, joinWindowMs: '5'}]}"),
        [
            W + "spec.steps[0].model: expected a string, got 3",
            W + "spec.steps[0].joinWindowMs: expected an integer, got '5'",
        ],
        id="wrong-scalar-types",
    ),
    pytest.param(
        _doc("{steps: [{name: a}, {name: b, inputs: a}, {name: c, inputs: [a, 1]}]}"),
        [
            W + "spec.steps[1].inputs: expected a list of references such as "
            "[step.outputs.tensor], got 'a'",
            W + "spec.steps[2].inputs[1]: expected a reference such as step.outputs.tensor, got 1",
        ],
        id="inputs-types",
    ),
    pytest.param(
        _doc("{steps: [{name: a}, {name: b, inputs: [a], tensorMap: [a]}]}"),
        [
            W + "spec.steps[1].tensorMap: expected a mapping of references to tensor names, "
            "got a list"
        ],
        id="tensor-map-not-a-mapping",
    ),
    pytest.param(
        _doc("{steps: [{name: a}, {name: b, inputs: [a], tensorMap: {a.outputs.y: [x]}}]}"),
        [W + "spec.steps[1].tensorMap.a.outputs.y: expected a tensor name, got a list"],
        id="tensor-map-value-type",
    ),
    pytest.param(
        _doc("{steps: [{name: a, inputsJoinType: all, triggersJoinType: 1}]}"),
        [
            W + "spec.steps[0].inputsJoinType: expected one of inner, outer, any, got 'all'",
            W + "spec.steps[0].triggersJoinType: expected one of inner, outer, any, got 1",
        ],
        id="join-types",
    ),
    pytest.param(
        _doc(f"{{steps: {AB}, output: {{stepsJoin: Inner}}}}"),
        [W + "spec.output.stepsJoin: expected one of inner, outer, any, got 'Inner'"],
        id="output-join-type",
    ),
    pytest.param(
        _doc("{steps: [{name: a, inputsJoin: any, inputsJoinType: outer}]}"),
        [W + "spec.steps[0].inputsJoin: give inputsJoinType or its alias inputsJoin, not both"],
        id="join-alias-and-name",
    ),
    pytest.param(
        _doc(f"{{steps: {AB}, output: [b]}}"),
        [W + "spec.output: expected a mapping with steps, got a list"],
        id="output-not-a-mapping",
    ),
    pytest.param(
        _doc(f"{{steps: {AB}, keepTopics: 'yes'}}"),
        [W + "spec.keepTopics: expected true or false, got 'yes'"],
        id="keep-topics-type",
    ),
    pytest.param(
        _doc("{steps: [{name: first}, {name: second, inputs: [frist.outputs.y]}]}"),
        [
            W + "spec.steps[1].inputs[0]: 'frist.outputs.y' names no step 'frist' (did you "
            "mean first? steps: first, second, or pipeline.inputs)"
        ],
        id="rules-after-parsing",
    ),
    pytest.param(
        _doc("{steps: [{name: a}, {name: b, inputs: [a], joinWindowMs: x}]}"),
        [W + "spec.steps[1].joinWindowMs: expected an integer, got 'x'"],
        id="rule-on-a-bad-field-not-repeated",
    ),
    pytest.param(
        "apiVersion: loadmaster.io/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\n",
        [W + "spec: required (at least steps)"],
        id="no-spec",
    ),
    pytest.param(
        _doc("{storageUri: x}", kind="Model"),
        [
            "f.yaml: document 1 (Model p): kind Model is not a pipeline: load models with "
            "`loadmaster model load -f FILE`"
        ],
        id="model-is-not-a-pipeline",
    ),
    pytest.param(
        _doc(f"{{steps: {AB}}}") + "---\n" + _doc(f"{{steps: {AB}}}"),
        [
            "f.yaml: document 2 (Pipeline p): metadata.name: duplicate pipeline 'p', also in "
            "f.yaml document 1"
        ],
        id="duplicate-name",
    ),
]


@pytest.mark.parametrize(("text", "problems"), ERRORS)
def test_refusals(text: str, problems: list[str]) -> None:
    with pytest.raises(ResourceError) as raised:
        load_pipelines(text, "f.yaml")
    assert raised.value.problems == problems


def test_experiment_commands_refuse_pipelines() -> None:
    with pytest.raises(ResourceError) as raised:
        load_experiments(_doc(f"{{steps: {AB}}}"), "f.yaml")
    assert raised.value.problems == [
        W + "kind Pipeline is not an experiment: load pipelines with `loadmaster pipeline load "
        "-f FILE`"
    ]


def test_files_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(_doc(f"{{steps: {AB}}}", name="one"))
    stdin = io.StringIO(_doc(f"{{steps: {AB}}}", name="two"))
    specs = load_pipeline_files([tmp_path, "-"], stdin=stdin)
    assert [s.name for s in specs] == ["one", "two"]


def test_examples_parse() -> None:
    root = Path(__file__).resolve().parents[3] / "examples" / "pipelines"
    (chain,) = load_pipeline_files([root / "chain.yaml"])
    assert [(s.name, s.model) for s in chain.steps] == [
        ("first", "identity"),
        ("second", "identity"),
    ]
    assert chain.steps[1].tensor_map == (("first.outputs.output", "input"),)
