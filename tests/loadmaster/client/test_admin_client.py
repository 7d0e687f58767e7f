"""The SDK's own promises: local validation, error classes, the stream's cancel, waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from loadmaster.client import AdminClient, InvalidSpec, NotFound, WaitTimeout
from loadmaster.resources import ModelSpec
from tests.loadmaster.client.fakes import REJECTED_URI, FakeScheduler, start_grpc


@pytest.fixture
def fake() -> FakeScheduler:
    return FakeScheduler()


@pytest.fixture
def client(fake: FakeScheduler) -> Iterator[AdminClient]:
    server, address = start_grpc(fake)
    with AdminClient(address, timeout_s=5) as admin:
        yield admin
    server.stop(0)


def test_load_then_status(client: AdminClient) -> None:
    reply = client.load_model(ModelSpec(name="iris", storage_uri="file:///m", replicas=2))
    assert (reply.name, reply.version, reply.changed) == ("iris", 1, True)
    status = client.model_status("iris")
    assert (status.state, status.desired_replicas) == ("ModelProgressing", 2)
    assert [m.name for m in client.list_models()] == ["iris"]
    assert client.scheduler_status().store == "memory://"


def test_invalid_spec_is_refused_before_sending(client: AdminClient, fake: FakeScheduler) -> None:
    with pytest.raises(InvalidSpec, match=r"spec.minReplicas: 2 is above spec.replicas \(1\)"):
        client.load_model(ModelSpec(name="iris", storage_uri="x", min_replicas=2))
    with pytest.raises(InvalidSpec, match="scheme refused") as raised:
        client.load_model(ModelSpec(name="iris", storage_uri=REJECTED_URI))
    assert raised.value.code == "INVALID_ARGUMENT"
    assert fake.models == {}


def test_not_found(client: AdminClient) -> None:
    with pytest.raises(NotFound, match="model nope not found") as raised:
        client.model_status("nope")
    assert raised.value.code == "NOT_FOUND"
    with pytest.raises(NotFound):
        client.server_status("nope")


def test_watch_sends_current_then_changes(client: AdminClient, fake: FakeScheduler) -> None:
    client.load_model(ModelSpec(name="iris", storage_uri="x"))
    client.load_model(ModelSpec(name="mlp", storage_uri="y"))
    watch = client.watch_models("iris")
    assert next(watch).state == "ModelProgressing"
    threading.Timer(0.1, fake.set_state, ("iris", "ModelAvailable")).start()
    assert next(watch).state == "ModelAvailable"
    watch.close()  # cancels the stream; the fake's handler thread sees it inactive
    everything = client.watch_models()
    assert sorted([next(everything).name, next(everything).name]) == ["iris", "mlp"]
    everything.close()


def test_wait_for_model(client: AdminClient, fake: FakeScheduler) -> None:
    client.load_model(ModelSpec(name="iris", storage_uri="x"))
    fake.set_state("iris", "ModelAvailable")
    assert client.wait_for_model("iris", "ModelAvailable", 1).state == "ModelAvailable"
    with pytest.raises(WaitTimeout) as raised:
        client.wait_for_model("iris", "ModelTerminated", 0.2)
    assert raised.value.last is not None
    assert raised.value.last.state == "ModelAvailable"
    gone = client.wait_for_model("nope", "ModelTerminated", 0.2)
    assert (gone.name, gone.state) == ("nope", "ModelTerminated")
    with pytest.raises(NotFound):
        client.wait_for_model("nope", "ModelAvailable", 0.2)
    with pytest.raises(ValueError, match="unknown model state 'Ready'"):
        client.wait_for_model("iris", "Ready", 0.2)
