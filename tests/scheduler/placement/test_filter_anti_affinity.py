from __future__ import annotations

import pytest

from scheduler.placement import PlacedReplica, ServerSnapshot
from scheduler.placement.filters import PASS, AntiAffinityFilter, Reject, Verdict
from tests.scheduler.placement.builders import demand, judge, replica, server, summary

ANTI_AFFINITY = AntiAffinityFilter()
HELD = Reject("already holds a replica of this version")


@pytest.mark.parametrize(
    ("replicas", "expected"),
    [
        ((), PASS),
        ((replica("iris", 1),), HELD),
        ((replica("iris", 1), replica("iris", 1)), HELD),
        # Another version of the same model may share the server (rolling updates).
        ((replica("iris", 2),), PASS),
        ((replica("other", 1),), PASS),
    ],
)
def test_anti_affinity_check(replicas: tuple[PlacedReplica, ...], expected: Verdict) -> None:
    target = server("a", replicas=replicas)
    verdict, allowed = judge(ANTI_AFFINITY, demand("iris", version=1), target)
    assert verdict == expected
    assert allowed == (verdict == PASS)


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        (
            [server("a", replicas=[replica("iris")])],
            ["the remaining server already holds a replica of this version"],
        ),
        (
            [server("a", replicas=[replica("iris")]), server("b", replicas=[replica("iris")])],
            ["remaining servers already hold a replica of this version"],
        ),
        (
            [server("a", replicas=[replica("iris")]), server("b")],
            ["1 server already holds a replica of this version"],
        ),
        ([server("a", replicas=[replica("iris", 2)])], []),
    ],
)
def test_anti_affinity_summary(servers: list[ServerSnapshot], expected: list[str]) -> None:
    assert summary(ANTI_AFFINITY, demand("iris"), *servers) == expected
