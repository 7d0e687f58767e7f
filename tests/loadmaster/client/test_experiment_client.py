"""The SDK's experiment calls: local validation, error classes, waiting for ExperimentReady."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from loadmaster.client import (
    AdminClient,
    ExperimentWaitTimeout,
    InvalidSpec,
    NotFound,
    SpecConflict,
    experiment_status_json,
)
from loadmaster.resources import ExperimentCandidate, ExperimentMirror, ExperimentSpec, ModelSpec
from tests.loadmaster.client.fakes import FakeScheduler, start_grpc

AB = ExperimentSpec(
    name="ab",
    candidates=(ExperimentCandidate("iris", 1), ExperimentCandidate("iris-v2", 3)),
    default_model="iris",
    mirror=ExperimentMirror("shadow", 20),
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


def test_start_status_list_stop(client: AdminClient, fake: FakeScheduler) -> None:
    reply = client.start_experiment(AB)
    assert (reply.name, reply.uid, reply.changed) == ("ab", 1, True)
    assert client.start_experiment(AB).changed is False
    status = client.experiment_status("ab")
    assert (status.state, status.uid) == ("ExperimentWaiting", 1)
    assert [e.name for e in client.list_experiments()] == ["ab"]
    client.stop_experiment("ab")
    assert fake.experiments == {}


def test_errors(client: AdminClient, fake: FakeScheduler) -> None:
    with pytest.raises(InvalidSpec, match=r"experiment x: spec.candidates: at least 2") as bad:
        client.start_experiment(ExperimentSpec("x", (ExperimentCandidate("a", 1),)))
    assert bad.value.code == "INVALID_ARGUMENT"
    assert fake.experiments == {}
    client.start_experiment(AB)
    rival = ExperimentSpec(
        "rival", (ExperimentCandidate("iris", 1), ExperimentCandidate("b", 1)), "iris"
    )
    with pytest.raises(SpecConflict, match="already taken over by experiment 'ab'") as taken:
        client.start_experiment(rival)
    assert isinstance(taken.value, InvalidSpec)  # the CLI exits 2 for both
    assert taken.value.code == "FAILED_PRECONDITION"
    with pytest.raises(NotFound, match="experiment 'nope' not found"):
        client.experiment_status("nope")
    with pytest.raises(NotFound):
        client.stop_experiment("nope")


def test_wait_for_ready_follows_the_models(client: AdminClient, fake: FakeScheduler) -> None:
    client.start_experiment(AB)
    for name in ("iris", "iris-v2", "shadow", "unrelated"):
        client.load_model(ModelSpec(name=name, storage_uri="x"))
    fake.set_state("iris", "ModelAvailable")

    def later() -> None:
        fake.set_state("unrelated", "ModelAvailable")
        fake.set_state("iris-v2", "ModelAvailable")
        fake.set_state("shadow", "ModelAvailable")

    threading.Timer(0.1, later).start()
    status = client.wait_for_experiment("ab", 10)
    assert status.state == "ExperimentReady"
    assert client.wait_for_experiment("ab", 0.2).state == "ExperimentReady"  # already ready


def test_wait_timeout_carries_the_last_status(client: AdminClient) -> None:
    client.start_experiment(AB)
    with pytest.raises(ExperimentWaitTimeout) as raised:
        client.wait_for_experiment("ab", 0.2)
    assert raised.value.message == (
        "experiment ab was not ExperimentReady within 0.2s; last state ExperimentWaiting "
        "(not ready: iris, iris-v2, shadow)"
    )
    assert raised.value.last.state == "ExperimentWaiting"
    with pytest.raises(NotFound):
        client.wait_for_experiment("nope", 0.2)


def test_status_json(client: AdminClient, fake: FakeScheduler) -> None:
    client.start_experiment(AB)
    client.load_model(ModelSpec(name="iris", storage_uri="x"))
    fake.set_state("iris", "ModelAvailable")
    uid = client.experiment_status("ab").uid
    fake.traffic[("g", "p", "ab", uid, "iris", False)] = 30
    fake.traffic[("g", "p", "ab", uid, "iris-v2", False)] = 90
    fake.traffic[("g", "p", "ab", uid, "shadow", True)] = 24
    assert experiment_status_json(client.experiment_status("ab")) == {
        "name": "ab",
        "uid": uid,
        "state": "ExperimentWaiting",
        "reason": "not ready: iris-v2, shadow",
        "default": "iris",
        "totalRequests": 120,
        "candidates": [
            {
                "model": "iris",
                "weight": 1,
                "modelState": "ModelAvailable",
                "ready": True,
                "requests": 30,
                "expectedShare": 0.25,
                "observedShare": 0.25,
            },
            {
                "model": "iris-v2",
                "weight": 3,
                "modelState": "",
                "ready": False,
                "requests": 90,
                "expectedShare": 0.75,
                "observedShare": 0.75,
            },
        ],
        "mirror": {
            "model": "shadow",
            "percent": 20,
            "modelState": "",
            "ready": False,
            "requests": 24,
            "expectedShare": 0.2,
            "observedShare": 0.2,
        },
    }
    client.stop_experiment("ab")
    client.start_experiment(ExperimentSpec("cd", AB.candidates))
    assert experiment_status_json(client.experiment_status("cd"))["mirror"] is None
