"""The SDK's pipeline calls: local validation, error classes, waiting for PipelineReady, and
the JSON view of a status."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from loadmaster.client import (
    AdminClient,
    InvalidSpec,
    NotFound,
    PipelineWaitFailed,
    PipelineWaitTimeout,
    WaitFailed,
    WaitTimeout,
    pipeline_status_json,
)
from loadmaster.resources import (
    JoinType,
    ModelSpec,
    PipelineOutput,
    PipelineSpec,
    PipelineStep,
)
from tests.loadmaster.client.fakes import FakeScheduler, start_grpc

CHAIN = PipelineSpec(
    name="chain",
    steps=(
        PipelineStep("first", "double"),
        PipelineStep(
            "second",
            "plus-one",
            inputs=("first.outputs.y",),
            tensor_map=(("first.outputs.y", "x"),),
            inputs_join=JoinType.OUTER,
            join_window_ms=250,
        ),
    ),
    output=PipelineOutput(steps=("second",), steps_join=JoinType.ANY),
)


@pytest.fixture
def fake() -> FakeScheduler:
    return FakeScheduler()


@pytest.fixture
def client(fake: FakeScheduler) -> Iterator[AdminClient]:
    server, address = start_grpc(fake)
    with AdminClient(address, timeout_s=5) as admin:
        yield admin
    server.stop(0)


def _models(client: AdminClient, *names: str) -> None:
    for name in names:
        client.load_model(ModelSpec(name=name, storage_uri="x"))


def test_load_status_list_unload(client: AdminClient, fake: FakeScheduler) -> None:
    assert client.load_pipeline(CHAIN) == (1, True)
    assert client.load_pipeline(CHAIN) == (1, False)
    status = client.pipeline_status("chain")
    assert (status.name, status.version, status.state) == ("chain", 1, "PipelineWaiting")
    assert status.reason == "waiting for models: double (not loaded), plus-one (not loaded)"
    assert [p.name for p in client.list_pipelines()] == ["chain"]
    client.unload_pipeline("chain")
    assert fake.pipelines == {}


def test_errors(client: AdminClient, fake: FakeScheduler) -> None:
    broken = PipelineSpec("bad", (PipelineStep("a", "m", inputs=("b.outputs.y",)),))
    with pytest.raises(InvalidSpec) as bad:
        client.load_pipeline(broken)
    assert bad.value.code == "INVALID_ARGUMENT"
    assert bad.value.message == (
        "pipeline bad: spec.steps[0].inputs[0]: 'b.outputs.y' names no step 'b' (steps: a, or "
        "pipeline.inputs)"
    )
    assert fake.pipelines == {}  # refused before it was sent
    with pytest.raises(NotFound, match="pipeline 'nope' not found"):
        client.pipeline_status("nope")
    with pytest.raises(NotFound):
        client.unload_pipeline("nope")


def test_wait_ready_follows_the_models(client: AdminClient, fake: FakeScheduler) -> None:
    client.load_pipeline(CHAIN)
    _models(client, "double", "plus-one", "unrelated")
    fake.set_state("double", "ModelAvailable")

    def later() -> None:
        fake.set_state("unrelated", "ModelAvailable")
        fake.set_state("plus-one", "ModelAvailable")

    threading.Timer(0.1, later).start()
    assert client.wait_pipeline_ready("chain", 10).state == "PipelineReady"
    assert client.wait_pipeline_ready("chain", 0.2).state == "PipelineReady"  # already ready


def test_wait_timeout_carries_the_last_reason(client: AdminClient) -> None:
    client.load_pipeline(CHAIN)
    _models(client, "double")
    with pytest.raises(PipelineWaitTimeout) as raised:
        client.wait_pipeline_ready("chain", 0.2)
    assert isinstance(raised.value, WaitTimeout)
    assert raised.value.message == (
        "pipeline chain was not PipelineReady within 0.2s; last state PipelineWaiting (waiting "
        "for models: double (ModelProgressing), plus-one (not loaded))"
    )
    assert raised.value.pipeline.state == "PipelineWaiting"
    with pytest.raises(NotFound):
        client.wait_pipeline_ready("nope", 0.2)


def test_wait_stops_at_failed(client: AdminClient, fake: FakeScheduler) -> None:
    client.load_pipeline(CHAIN)
    _models(client, "double", "plus-one")
    why = "spec.steps[1].inputs[0]: 'first.outputs.y': model 'double' declares no output 'y'"
    threading.Timer(0.1, lambda: fake.fail_pipeline("chain", why)).start()
    with pytest.raises(PipelineWaitFailed) as raised:
        client.wait_pipeline_ready("chain", 10)
    assert isinstance(raised.value, WaitFailed)
    assert raised.value.message == f"pipeline chain is PipelineFailed: {why}"
    assert raised.value.pipeline.reason == why


def test_status_json(client: AdminClient, fake: FakeScheduler) -> None:
    client.load_pipeline(CHAIN)
    _models(client, "double")
    fake.set_state("double", "ModelAvailable")
    assert pipeline_status_json(client.pipeline_status("chain")) == {
        "name": "chain",
        "version": 1,
        "state": "PipelineWaiting",
        "reason": "waiting for models: plus-one (not loaded)",
        "steps": [
            {"name": "first", "model": "double", "modelState": "ModelAvailable", "ready": True},
            {"name": "second", "model": "plus-one", "modelState": "", "ready": False},
        ],
        "spec": {
            "steps": [
                {
                    "name": "first",
                    "model": "double",
                    "inputs": [],
                    "tensorMap": {},
                    "inputsJoinType": "inner",
                    "joinWindowMs": 0,
                    "triggers": [],
                    "triggersJoinType": "inner",
                },
                {
                    "name": "second",
                    "model": "plus-one",
                    "inputs": ["first.outputs.y"],
                    "tensorMap": {"first.outputs.y": "x"},
                    "inputsJoinType": "outer",
                    "joinWindowMs": 250,
                    "triggers": [],
                    "triggersJoinType": "inner",
                },
            ],
            "output": {"steps": ["second"], "tensorMap": {}, "stepsJoin": "any", "joinWindowMs": 0},
            "keepTopics": False,
        },
    }
