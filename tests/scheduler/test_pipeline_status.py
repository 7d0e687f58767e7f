"""A pipeline's state from its models' readiness and declared tensors: pure rules, then a core."""

from __future__ import annotations

from loadmaster.resources.pipeline_check import ModelTensors
from loadmaster.resources.pipeline_state import PipelineState
from scheduler.experiment_status import ModelReadiness
from scheduler.pipeline_records import PipelineRecord
from scheduler.pipeline_status import StepView, summarize_pipeline
from scheduler.pipeline_views import model_tensors, pipeline_message, pipeline_view
from tests.scheduler.fakes import (
    FakeClock,
    Gi,
    Rig,
    apply,
    declares,
    loaded,
    make_core,
    pipeline,
    reconcile,
    register,
    spec,
    step,
)

READY = ModelReadiness("ModelAvailable", True)
CHAIN = pipeline("chain", step("a"), step("b", "m", "a.outputs.y", tensor_map={"a.outputs.y": "x"}))
RECORD = PipelineRecord(CHAIN, 4)
# a takes the pipeline's inputs and gives y; m takes x (tensorMap renames y to x) and gives z.
FITTING = {"a": ModelTensors(("in",), ("y",)), "m": ModelTensors(("x",), ("z",))}


# ---- the rules -------------------------------------------------------------------------------


def test_ready_when_every_model_can_take_a_request_and_the_tensors_fit() -> None:
    view = summarize_pipeline(RECORD, {"a": READY, "m": READY}, FITTING)
    assert (view.name, view.version, view.state, view.reason) == (
        "chain",
        4,
        PipelineState.READY,
        "",
    )
    assert view.steps == (
        StepView("a", "a", "ModelAvailable", True),
        StepView("b", "m", "ModelAvailable", True),
    )
    assert view.spec == CHAIN


def test_models_that_declare_nothing_are_not_checked() -> None:
    view = summarize_pipeline(RECORD, {"a": READY, "m": READY}, {})
    assert view.state is PipelineState.READY


def test_waiting_names_each_model_it_waits_for_once_in_step_order() -> None:
    spec = pipeline("p", step("c", "c"), step("b1", "b", "c"), step("b2", "b", "c"), step("a"))
    models = {"a": READY, "b": ModelReadiness("ModelProgressing", False)}
    view = summarize_pipeline(PipelineRecord(spec, 1), models, {})
    assert view.state is PipelineState.WAITING
    assert view.reason == "waiting for models: c (not loaded), b (ModelProgressing)"
    assert [(s.name, s.model_state, s.ready) for s in view.steps] == [
        ("c", "", False),
        ("b1", "ModelProgressing", False),
        ("b2", "ModelProgressing", False),
        ("a", "ModelAvailable", True),
    ]


def test_an_available_model_on_a_lost_server_is_waited_for_with_its_state() -> None:
    models = {"a": READY, "m": ModelReadiness("ModelAvailable", False)}
    view = summarize_pipeline(RECORD, models, {})
    assert (view.state, view.reason) == (
        PipelineState.WAITING,
        "waiting for models: m (ModelAvailable)",
    )


def test_failed_lists_every_tensor_problem_even_while_other_models_wait() -> None:
    wrong = {"a": ModelTensors(("in",), ("w",)), "m": ModelTensors(("q",), ("z",))}
    view = summarize_pipeline(RECORD, {"a": READY}, wrong)
    assert view.state is PipelineState.FAILED
    assert view.reason == (
        "spec.steps[1].inputs[0]: 'a.outputs.y': model 'a' declares no output 'y' (it has: w); "
        "spec.steps[1].tensorMap: 'a.outputs.y': model 'a' declares no output 'y' (it has: w); "
        "spec.steps[1]: model 'm' takes inputs (q) but would receive 'x' (tensorMap renames "
        "'a.outputs.y' to it); map it with tensorMap {a.outputs.y: q}"
    )


# ---- from a scheduler's records --------------------------------------------------------------

SIGNATURES = {"a": declares(["in"], ["y"]), "m": declares(["x"], ["z"])}


async def serving(clock: FakeClock | None = None) -> Rig:
    """Server s, models a and m loaded, each declaring what CHAIN needs."""
    rig = make_core(clock=clock)
    await register(rig, "s", 8 * Gi)
    await apply(rig, spec("a", Gi))
    await apply(rig, spec("m", Gi))
    await reconcile(rig)
    await loaded(rig, SIGNATURES)
    return rig


async def test_waiting_until_the_models_are_loaded_then_ready() -> None:
    rig = make_core()
    await register(rig, "s", 8 * Gi)
    await apply(rig, spec("a", Gi))
    view = pipeline_view(rig.core, RECORD)
    assert view.reason == "waiting for models: a (ModelProgressing), m (not loaded)"
    await apply(rig, spec("m", Gi))
    await reconcile(rig)
    await loaded(rig, SIGNATURES)
    view = pipeline_view(rig.core, RECORD)
    assert (view.state, view.reason) == (PipelineState.READY, "")
    message = pipeline_message(rig.core, RECORD)
    assert (message.name, message.version, message.state) == ("chain", 4, "PipelineReady")
    assert [(s.name, s.model, s.model_state, s.ready) for s in message.steps] == [
        ("a", "a", "ModelAvailable", True),
        ("b", "m", "ModelAvailable", True),
    ]


async def test_a_model_that_declares_another_output_fails_the_pipeline() -> None:
    rig = make_core()
    await register(rig, "s", 8 * Gi)
    await apply(rig, spec("a", Gi))
    await apply(rig, spec("m", Gi))
    await reconcile(rig)
    await loaded(rig, {"a": declares(["in"], ["other"]), "m": SIGNATURES["m"]})
    view = pipeline_view(rig.core, RECORD)
    assert view.state is PipelineState.FAILED
    assert view.reason.startswith(
        "spec.steps[1].inputs[0]: 'a.outputs.y': model 'a' declares no output 'y' (it has: other)"
    )


async def test_the_current_version_declares_once_it_serves_an_older_one_until_then() -> None:
    rig = await serving()
    assert model_tensors(rig.core, "a") == ModelTensors(("in",), ("y",))
    await apply(rig, spec("a", Gi, uri="file:///models/a-2"))  # version 2 rolls in
    await reconcile(rig)
    assert model_tensors(rig.core, "a") == ModelTensors(("in",), ("y",))  # v1 still serves
    assert pipeline_view(rig.core, RECORD).state is PipelineState.READY
    await loaded(rig, {"a": declares(["in"], ["renamed"])})
    assert model_tensors(rig.core, "a") == ModelTensors(("in",), ("renamed",))
    assert pipeline_view(rig.core, RECORD).state is PipelineState.FAILED


async def test_no_serving_replica_no_tensors_and_the_pipeline_waits() -> None:
    clock = FakeClock()
    rig = await serving(clock)
    clock.advance(rig.core.config.heartbeat_timeout_s + 1)
    await reconcile(rig)  # s is lost: nothing serves a or m
    assert model_tensors(rig.core, "a") is None
    assert model_tensors(rig.core, "nope") is None
    view = pipeline_view(rig.core, RECORD)
    assert view.state is PipelineState.WAITING
    assert view.reason.startswith("waiting for models: a (")
