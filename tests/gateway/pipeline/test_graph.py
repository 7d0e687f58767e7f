"""Compiling a pipeline spec: who takes which source, defaults, and refused references."""

from __future__ import annotations

import pytest

from gateway.pipeline.graph import OUTPUT, GraphError, compile_pipeline
from loadmaster.resources.pipeline_refs import PIPELINE, TensorRef
from loadmaster.resources.pipeline_spec import (
    JoinType,
    PipelineOutput,
    PipelineSpec,
    PipelineStep,
    tensor_map_of,
)

SPEC = PipelineSpec(
    "p",
    (
        PipelineStep("a", "m1"),
        PipelineStep("choose", "router"),
        PipelineStep(
            "b",
            "m2",
            inputs=("a.outputs.y", "pipeline.inputs.x", "a"),
            tensor_map=tensor_map_of({"a.outputs.y": "y2"}),
            inputs_join=JoinType.OUTER,
            join_window_ms=30,
            triggers=("choose.outputs.go", "choose.outputs.go2"),
            triggers_join=JoinType.ANY,
        ),
    ),
    PipelineOutput(steps=("b.outputs.z", "a"), steps_join=JoinType.ANY, join_window_ms=5),
)


def test_each_source_lists_the_targets_that_take_it() -> None:
    graph = compile_pipeline(SPEC)
    assert [t.name for t in graph.takers(PIPELINE)] == ["a", "choose", "b"]
    assert [t.name for t in graph.takers("a")] == ["b", OUTPUT]
    assert [t.name for t in graph.takers("choose")] == ["b"]
    assert [t.name for t in graph.takers("b")] == [OUTPUT]
    assert graph.takers("nobody") == ()


def test_a_step_keeps_its_refs_joins_window_and_sources_in_written_order() -> None:
    b = compile_pipeline(SPEC).target("b")
    assert b is not None
    assert b.inputs == (TensorRef("a", "y"), TensorRef(PIPELINE, "x"), TensorRef("a"))
    assert (b.input_sources, b.trigger_sources) == (("a", PIPELINE), ("choose",))
    assert b.sources == ("a", PIPELINE, "choose")
    assert (b.inputs_join, b.window_ms, b.triggers_join) == (JoinType.OUTER, 30, JoinType.ANY)
    assert (b.model, b.label, b.is_output) == ("m2", "step 'b'", False)


def test_the_tensor_map_renames_by_the_one_tensor_reference() -> None:
    b = compile_pipeline(SPEC).target("b")
    assert b is not None
    assert b.renamed(TensorRef("a", "y"), "y") == "y2"
    assert b.renamed(TensorRef("a"), "y") == "y2"  # a whole-source ref maps tensor by tensor
    assert b.renamed(TensorRef("a"), "q") == "q"


def test_the_output_is_a_target_without_model_or_triggers() -> None:
    graph = compile_pipeline(SPEC)
    out = graph.output
    assert (out.name, out.model, out.label, out.is_output) == (OUTPUT, "", "output", True)
    assert out.inputs == (TensorRef("b", "z"), TensorRef("a"))
    assert (out.inputs_join, out.window_ms, out.triggers) == (JoinType.ANY, 5, ())
    assert graph.step_model("b") == "m2"
    assert graph.step_model(OUTPUT) is None and graph.step_model("zz") is None


def test_defaults_take_the_request_and_answer_with_the_last_step() -> None:
    graph = compile_pipeline(PipelineSpec("p", (PipelineStep("a", "m"), PipelineStep("b", "m"))))
    b = graph.target("b")
    assert b is not None and b.inputs == (TensorRef(PIPELINE),)
    assert graph.output.inputs == (TensorRef("b"),)
    assert graph.output.inputs_join is JoinType.INNER


@pytest.mark.parametrize(
    ("steps", "output", "message"),
    [
        ((), (), "pipeline 'p' has no steps"),
        (
            (PipelineStep("a", "m", inputs=("zz.outputs",)),),
            (),
            "spec.steps[0].inputs[0]: 'zz.outputs' names no step of the pipeline (steps: a)",
        ),
        (
            (PipelineStep("a", "m", triggers=("a.outputs.t",)),),
            (),
            "spec.steps[0].triggers[0]: 'a.outputs.t': a step cannot take its own outputs",
        ),
        ((PipelineStep("a", "m"),), ("a.inputs",), "spec.output.steps[0]: 'a.inputs'"),
    ],
)
def test_bad_references_are_refused_naming_where(
    steps: tuple[PipelineStep, ...], output: tuple[str, ...], message: str
) -> None:
    with pytest.raises(GraphError) as caught:
        compile_pipeline(PipelineSpec("p", steps, PipelineOutput(steps=output)))
    assert str(caught.value).startswith(message)
