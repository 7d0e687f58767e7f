"""The decisions both front doors make from the route table, table-driven."""

from __future__ import annotations

import pytest

from gateway.routes import Endpoint, Route, RouteTable
from gateway.targets import Protocol, Target, Targets
from loadmaster.oip import errors

BOTH = Endpoint("a", 1, "a:9000", "a:9500")
REST_ONLY = Endpoint("b", 2, "b:9000", "")
GRPC_ONLY = Endpoint("c", 2, "", "c:9500")


def targets(*routes: Route) -> Targets:
    t = Targets("sched:9004")
    t.set_table(RouteTable(1, {r.model: r for r in routes}))
    return t


IRIS = Route("iris", 2, "ModelAvailable", "", (BOTH, REST_ONLY, GRPC_ONLY))
LOADING = Route("mlp", 1, "ModelProgressing", "loading on a")


@pytest.mark.parametrize(
    ("version", "protocol", "servers"),
    [
        (None, Protocol.REST, ["a", "b"]),
        (None, Protocol.GRPC, ["a", "c"]),
        (1, Protocol.REST, ["a"]),
        (2, Protocol.GRPC, ["c"]),
        (3, Protocol.REST, []),
    ],
)
def test_endpoints_by_version_and_protocol(
    version: int | None, protocol: Protocol, servers: list[str]
) -> None:
    assert [e.server for e in targets(IRIS).endpoints("iris", version, protocol)] == servers


@pytest.mark.parametrize(
    ("name", "version", "error", "message"),
    [
        ("nope", None, errors.ModelNotFound, "model 'nope' not found"),
        (
            "mlp",
            None,
            errors.ModelNotReady,
            "model 'mlp' has no ready replica (ModelProgressing: loading on a)",
        ),
        (
            "iris",
            3,
            errors.ModelNotReady,
            "model 'iris' version '3' has no ready replica (ModelAvailable)",
        ),
    ],
)
def test_require_refuses_with_a_reason(
    name: str, version: int | None, error: type[errors.OIPError], message: str
) -> None:
    with pytest.raises(error) as info:
        targets(IRIS, LOADING).require(name, version, Protocol.REST)
    assert info.value.message == message


def test_before_the_first_table_nothing_routes() -> None:
    t = Targets("sched:9004")
    with pytest.raises(
        errors.ModelNotReady, match="no route table from the scheduler at sched:9004"
    ):
        t.require("iris", None, Protocol.GRPC)
    assert not t.received
    t.set_table(RouteTable())
    assert t.received


def test_require_and_readiness() -> None:
    t = targets(IRIS, LOADING)
    assert t.require("iris", 2, Protocol.GRPC) == Target("iris", 2)
    # the replicas it found ready come along, for the first attempt to choose from
    assert t.require("iris", 2, Protocol.GRPC).endpoints == t.endpoints("iris", 2, Protocol.GRPC)
    assert t.require("iris", None, Protocol.REST).endpoints == t.endpoints(
        "iris", None, Protocol.REST
    )
    assert t.not_ready_reason("iris", None, Protocol.REST) is None
    assert t.not_ready_reason("mlp", None, Protocol.REST) == (
        "model 'mlp' has no ready replica (ModelProgressing: loading on a)"
    )
    with pytest.raises(errors.ModelNotFound):
        t.not_ready_reason("nope", None, Protocol.REST)


def test_labels_are_bounded_to_known_models() -> None:
    t = targets(IRIS)
    assert (t.label("iris"), t.label("anything-else")) == ("iris", "(unknown)")


def test_a_name_served_by_another_model_drops_the_version() -> None:
    t = targets(IRIS)
    t.resolve = lambda name: IRIS if name == "alias" else None  # type: ignore[method-assign]
    assert t.require("alias", 7, Protocol.REST) == Target("iris", None, renamed=True)
