"""ExperimentSpec rules (shared by the CLI and the scheduler) and the wire round trip."""

from __future__ import annotations

import pytest

from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.resources import (
    ExperimentCandidate,
    ExperimentMirror,
    ExperimentSpec,
    check_experiment,
    experiment_from_proto,
    experiment_to_proto,
)


def experiment(
    *candidates: tuple[str, int],
    name: str = "ab",
    default: str = "",
    mirror: tuple[str, int] | None = None,
) -> ExperimentSpec:
    return ExperimentSpec(
        name=name,
        candidates=tuple(ExperimentCandidate(m, w) for m, w in candidates),
        default_model=default,
        mirror=ExperimentMirror(*mirror) if mirror is not None else None,
    )


VALID = [
    pytest.param(experiment(("a", 50), ("b", 50)), id="two-candidates"),
    pytest.param(experiment(("a", 1), ("b", 3), default="a"), id="default-is-a-candidate"),
    pytest.param(experiment(("a", 1), mirror=("shadow", 100)), id="one-candidate-with-mirror"),
    pytest.param(experiment(("a", 1), ("b", 1), ("c", 2**32 - 1)), id="max-weight"),
]


@pytest.mark.parametrize("spec", VALID)
def test_valid(spec: ExperimentSpec) -> None:
    assert check_experiment(spec) == []


INVALID = [
    pytest.param(
        experiment(("a", 1), ("b", 1), name=""), ["metadata.name: must not be empty"], id="no-name"
    ),
    pytest.param(
        experiment(),
        ["spec.candidates: at least one candidate is required"],
        id="no-candidates",
    ),
    pytest.param(
        experiment(("a", 1)),
        [
            "spec.candidates: at least 2 candidates are required to split traffic (one is "
            "enough with a spec.mirror)"
        ],
        id="one-candidate-without-mirror",
    ),
    pytest.param(
        experiment(("a", 0), ("b", -2)),
        [
            "spec.candidates[0].weight: must be a positive integer, got 0",
            "spec.candidates[1].weight: must be a positive integer, got -2",
        ],
        id="weights-not-positive",
    ),
    pytest.param(
        experiment(("a", 1), ("b", 2**32)),
        ["spec.candidates[1].weight: must be at most 4294967295, got 4294967296"],
        id="weight-beyond-uint32",
    ),
    pytest.param(
        experiment(("a", 1), ("b", 1), ("a", 2)),
        ["spec.candidates[2].name: duplicate candidate 'a' (also spec.candidates[0])"],
        id="duplicate-candidate",
    ),
    pytest.param(
        experiment(("a", 1), ("", 1), ("x/y", 1)),
        [
            "spec.candidates[1].name: must not be empty",
            "spec.candidates[2].name: 'x/y' is not a valid model name: use letters, digits, "
            "'_', '.', '-' (at most 128), starting with a letter or digit",
        ],
        id="candidate-names",
    ),
    pytest.param(
        experiment(("a", 1), ("b", 1), default="c"),
        [
            "spec.default: 'c' is not one of the candidates (a, b); the default model must be "
            "a candidate"
        ],
        id="default-not-a-candidate",
    ),
    pytest.param(
        experiment(("a", 1), ("b", 1), mirror=("a", 10)),
        ["spec.mirror.name: 'a' is also a candidate; the mirror must be a model outside the split"],
        id="mirror-is-a-candidate",
    ),
    pytest.param(
        experiment(("a", 1), mirror=("m", 0)),
        ["spec.mirror.percent: must be from 1 to 100, got 0"],
        id="mirror-percent-zero",
    ),
    pytest.param(
        experiment(("a", 1), mirror=("", 101)),
        [
            "spec.mirror.name: must not be empty",
            "spec.mirror.percent: must be from 1 to 100, got 101",
        ],
        id="mirror-all-wrong",
    ),
]


@pytest.mark.parametrize(("spec", "problems"), INVALID)
def test_invalid(spec: ExperimentSpec, problems: list[str]) -> None:
    assert check_experiment(spec) == problems


@pytest.mark.parametrize(
    "spec",
    [
        experiment(("a", 50), ("b", 50)),
        experiment(("a", 1), ("b", 3), default="b", mirror=("shadow", 20)),
    ],
)
def test_proto_round_trip(spec: ExperimentSpec) -> None:
    message = experiment_to_proto(spec)
    assert experiment_from_proto(message) == spec
    assert message.HasField("mirror") is (spec.mirror is not None)


def test_proto_fields() -> None:
    message = experiment_to_proto(
        experiment(("iris", 50), ("iris-v2", 50), default="iris", mirror=("shadow", 20))
    )
    assert message == admin_pb2.ExperimentSpec(
        name="ab",
        default_model="iris",
        candidates=[
            admin_pb2.ExperimentCandidate(model="iris", weight=50),
            admin_pb2.ExperimentCandidate(model="iris-v2", weight=50),
        ],
        mirror=admin_pb2.ExperimentMirror(model="shadow", percent=20),
    )


def test_models_and_weights() -> None:
    spec = experiment(("a", 1), ("b", 3), mirror=("m", 5))
    assert spec.models == ("a", "b", "m")
    assert spec.total_weight == 4
    assert experiment(("a", 1), ("b", 3)).models == ("a", "b")
