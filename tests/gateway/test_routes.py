"""Route records built from the scheduler's `RouteTable` message."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.routes import Endpoint, Route, RouteTable
from loadmaster.generated.scheduler.v1 import admin_pb2 as pb


def message() -> pb.RouteTable:
    return pb.RouteTable(
        generation=4,
        models=[
            pb.ModelRoute(
                model="iris",
                version=2,
                state="ModelAvailable",
                endpoints=[
                    pb.RouteEndpoint(
                        server="a", version=2, http_endpoint="h1:9000", grpc_endpoint="h1:9500"
                    ),
                    pb.RouteEndpoint(
                        server="b", version=1, http_endpoint="h2:9000", grpc_endpoint="h2:9500"
                    ),
                ],
            ),
            pb.ModelRoute(model="mlp", version=1, state="ModelProgressing", reason="loading on a"),
        ],
    )


def test_from_proto() -> None:
    table = RouteTable.from_proto(message())
    assert table.generation == 4
    assert set(table.routes) == {"iris", "mlp"}
    iris = table.lookup("iris")
    assert iris == Route(
        model="iris",
        version=2,
        state="ModelAvailable",
        reason="",
        endpoints=(
            Endpoint("a", 2, "h1:9000", "h1:9500"),
            Endpoint("b", 1, "h2:9000", "h2:9500"),
        ),
    )
    mlp = table.lookup("mlp")
    assert mlp is not None and mlp.endpoints == ()
    assert mlp.why_unavailable() == "ModelProgressing: loading on a"
    assert table.lookup("nope") is None


def test_endpoints_for_a_version() -> None:
    iris = RouteTable.from_proto(message()).lookup("iris")
    assert iris is not None
    assert [e.server for e in iris.endpoints_for()] == ["a", "b"]
    assert [e.server for e in iris.endpoints_for(1)] == ["b"]
    assert iris.endpoints_for(3) == ()


def test_empty_before_the_first_message_and_immutable() -> None:
    empty = RouteTable()
    assert empty.generation == 0 and empty.lookup("iris") is None
    table = RouteTable.from_proto(message())
    with pytest.raises(TypeError):
        table.routes["x"] = table.routes["iris"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.generation = 5  # type: ignore[misc]


def test_state_without_reason() -> None:
    assert Route("m", 1, "ModelFailed", "").why_unavailable() == "ModelFailed"
