"""Experiments as the gateway routes them: weights, stickiness, mirrors and what is counted."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gateway.experiments import Candidate, Experiment, Hit, Mirror
from gateway.routes import Endpoint, Route, RouteTable
from gateway.targets import Protocol, Targets
from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.oip import errors

A = Endpoint("s1", 1, "s1:9000", "s1:9500")
B = Endpoint("s2", 1, "s2:9000", "s2:9500")
M = Endpoint("s3", 1, "s3:9000", "s3:9500")
IRIS = Route("iris", 1, "ModelAvailable", "", (A,))
IRIS2 = Route("iris-v2", 1, "ModelAvailable", "", (B,))
SHADOW = Route("shadow", 1, "ModelAvailable", "", (M,))
LOADING = Route("iris-v2", 1, "ModelProgressing", "loading on s2")
AB = Experiment(
    "ab", 7, "iris", (Candidate("iris", 75), Candidate("iris-v2", 25)), Mirror("shadow", 50)
)


def targets(*routes: Route, experiments: tuple[Experiment, ...] = (AB,), seed: int = 1) -> Targets:
    t = Targets("sched:9004", rng=random.Random(seed))
    t.set_table(
        RouteTable(
            1,
            {r.model: r for r in routes},
            {e.name: e for e in experiments},
            {e.default_model: e for e in experiments if e.default_model},
        )
    )
    return t


def test_from_proto_reads_spec_uid_and_mirror() -> None:
    spec = pb.ExperimentSpec(
        name="ab",
        default_model="iris",
        candidates=[pb.ExperimentCandidate(model="iris", weight=75)],
        mirror=pb.ExperimentMirror(model="shadow", percent=50),
    )
    got = Experiment.from_proto(pb.ExperimentRoute(spec=spec, uid=7))
    assert got == Experiment("ab", 7, "iris", (Candidate("iris", 75),), Mirror("shadow", 50))
    no_mirror = pb.ExperimentRoute(spec=pb.ExperimentSpec(name="x"), uid=1)
    assert Experiment.from_proto(no_mirror).mirror is None


def test_table_indexes_experiments_by_name_and_takeover() -> None:
    msg = pb.RouteTable(
        generation=3,
        experiments=[pb.ExperimentRoute(spec=pb.ExperimentSpec(name="ab", default_model="iris"))],
    )
    table = RouteTable.from_proto(msg)
    assert set(table.experiments) == {"ab"} and set(table.takeovers) == {"iris"}


def test_choose_follows_the_weights() -> None:
    rng = random.Random(4)
    picks = Counter(AB.choose(lambda m: True, None, rng).model for _ in range(4000))  # type: ignore[union-attr]
    share = picks["iris"] / 4000
    assert 0.72 < share < 0.78  # 75 % expected; binomial sd is 0.7 %, so this is > 4 sd wide


@pytest.mark.parametrize(
    ("ready", "sticky", "expected"),
    [
        ({"iris", "iris-v2"}, "iris-v2", "iris-v2"),  # echoed route header wins
        ({"iris"}, "iris-v2", "iris"),  # ... unless that candidate cannot serve
        ({"iris-v2"}, None, "iris-v2"),  # only ready candidates are drawn
        ({"iris", "iris-v2"}, "not-a-candidate", None),  # unknown header: drawn by weight
        (set(), None, "none"),
    ],
)
def test_choose_sticky_and_ready(ready: set[str], sticky: str | None, expected: str | None) -> None:
    picked = AB.choose(lambda m: m in ready, sticky, random.Random(0))
    if expected == "none":
        assert picked is None
    elif expected is None:
        assert picked is not None and picked.model in {"iris", "iris-v2"}
    else:
        assert picked is not None and picked.model == expected


def test_mirrors_draws_its_percent() -> None:
    rng = random.Random(9)
    drawn = sum(AB.mirrors(rng) for _ in range(4000)) / 4000
    assert 0.46 < drawn < 0.54
    assert not Experiment("x", 1, "", (Candidate("a", 1),)).mirrors(rng)


def test_takeover_routes_the_model_name_through_the_experiment_and_counts() -> None:
    t = targets(IRIS, IRIS2, SHADOW)
    seen: Counter[str] = Counter()
    for _ in range(400):
        target = t.require("iris", None, Protocol.REST)
        assert target.hit is not None and target.hit.experiment == "ab"
        assert target.renamed == (target.model != "iris")
        seen[target.model] += 1
        seen["mirror"] += target.mirror == "shadow"
    assert seen["iris"] + seen["iris-v2"] == 400 and seen["iris-v2"] > 0
    assert t.counts.get("ab", 7, "iris") == seen["iris"]
    assert t.counts.get("ab", 7, "shadow", mirror=True) == seen["mirror"] > 0


def test_suffixed_name_addresses_the_experiment() -> None:
    target = targets(IRIS, IRIS2).require("ab.experiment", None, Protocol.GRPC, sticky="iris-v2")
    assert (target.model, target.renamed, target.hit) == ("iris-v2", True, Hit("ab", 7, "iris-v2"))


def test_version_is_kept_only_when_the_experiment_chose_the_model_itself() -> None:
    t = targets(IRIS, IRIS2)
    assert t.require("iris", 1, Protocol.REST, sticky="iris").version == 1
    assert t.require("iris", 1, Protocol.REST, sticky="iris-v2").version is None


def test_uncounted_lookups_neither_count_nor_mirror() -> None:
    t = targets(IRIS, IRIS2, SHADOW)
    for _ in range(20):
        assert t.require("iris", None, Protocol.REST, counted=False).mirror is None
    assert t.counts.get("ab", 7, "iris") + t.counts.get("ab", 7, "iris-v2") == 0


@pytest.mark.parametrize(
    ("routes", "name", "error", "message"),
    [
        (
            (IRIS,),
            "nope.experiment",
            errors.ModelNotFound,
            "experiment 'nope.experiment' not found",
        ),
        (
            (),
            "ab.experiment",
            errors.ModelNotReady,
            "experiment 'ab' has no candidate with a ready replica ('iris' is not loaded; "
            "'iris-v2' is not loaded)",
        ),
        (
            (Route("iris", 1, "ModelFailed", "bad artifact"), LOADING),
            "iris",
            errors.ModelNotReady,
            "experiment 'ab' has no candidate with a ready replica ('iris' is ModelFailed: "
            "bad artifact; 'iris-v2' is ModelProgressing: loading on s2)",
        ),
    ],
)
def test_experiment_refusals_say_why(
    routes: tuple[Route, ...], name: str, error: type[errors.OIPError], message: str
) -> None:
    with pytest.raises(error) as caught:
        targets(*routes).require(name, None, Protocol.REST)
    assert caught.value.message == message


def test_mirror_without_a_ready_replica_is_skipped() -> None:
    t = targets(IRIS, IRIS2, seed=3)
    assert all(t.require("iris", None, Protocol.REST).mirror is None for _ in range(50))


def test_a_new_table_forgets_counts_of_experiments_gone_or_restarted() -> None:
    t = targets(IRIS, IRIS2)
    t.require("iris", None, Protocol.REST)
    restarted = Experiment("ab", 8, "iris", AB.candidates)
    t.set_table(RouteTable(2, {"iris": IRIS}, {"ab": restarted}, {"iris": restarted}))
    assert t.counts.report("g", "i").traffic == []


def test_labels_know_experiment_names() -> None:
    t = targets(IRIS)
    assert [t.label(n) for n in ("ab.experiment", "iris", "zz.experiment")] == [
        "ab.experiment",
        "iris",
        "(unknown)",
    ]
