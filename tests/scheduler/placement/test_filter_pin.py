from __future__ import annotations

import pytest

from scheduler.placement import ServerSnapshot
from scheduler.placement.filters import PASS, PinFilter, Reject, Verdict
from tests.scheduler.placement.builders import demand, judge, server, summary

PIN = PinFilter()


@pytest.mark.parametrize(
    ("pool", "target", "expected"),
    [
        (None, server("a", pool="cpu"), PASS),
        (None, server("a"), PASS),
        ("gpu-pool", server("a", pool="gpu-pool"), PASS),
        (
            "gpu-pool",
            server("a", pool="cpu"),
            Reject("is in pool 'cpu', model is pinned to 'gpu-pool'"),
        ),
        ("gpu-pool", server("a"), Reject("is in pool '', model is pinned to 'gpu-pool'")),
    ],
)
def test_pin_check(pool: str | None, target: ServerSnapshot, expected: Verdict) -> None:
    verdict, allowed = judge(PIN, demand(pool=pool), target)
    assert verdict == expected
    assert allowed == (verdict == PASS)


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        ([server("a", pool="cpu")], ["pinned to pool 'gpu-pool' which has no servers"]),
        ([], []),
        # Servers outside the pool are what the user asked for: not worth a clause.
        ([server("a", pool="cpu"), server("b", pool="gpu-pool")], []),
    ],
)
def test_pin_summary(servers: list[ServerSnapshot], expected: list[str]) -> None:
    assert summary(PIN, demand(pool="gpu-pool"), *servers) == expected
