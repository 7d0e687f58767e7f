from __future__ import annotations

import pytest

from scheduler.placement import ServerSnapshot
from scheduler.placement.filters import PASS, DrainingFilter, Reject, Verdict
from tests.scheduler.placement.builders import demand, judge, replica, server, summary

DRAINING = DrainingFilter()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (server("a"), PASS),
        (server("a", draining=True), Reject("is draining")),
        (server("a", draining=True, replicas=[replica("iris")]), Reject("is draining")),
    ],
)
def test_draining_check(target: ServerSnapshot, expected: Verdict) -> None:
    verdict, allowed = judge(DRAINING, demand(), target)
    assert verdict == expected
    assert allowed == (verdict == PASS)


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        ([server("a", draining=True)], ["every candidate server is draining"]),
        ([server("a", draining=True), server("b")], ["1 server is draining"]),
        (
            [server("a", draining=True), server("b", draining=True), server("c")],
            ["2 servers are draining"],
        ),
        ([server("a")], []),
    ],
)
def test_draining_summary(servers: list[ServerSnapshot], expected: list[str]) -> None:
    assert summary(DRAINING, demand(), *servers) == expected
