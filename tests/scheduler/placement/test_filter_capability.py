from __future__ import annotations

import pytest

from scheduler.placement import ServerSnapshot
from scheduler.placement.filters import PASS, CapabilityFilter, Reject, Verdict
from tests.scheduler.placement.builders import demand, judge, server, summary

CAPABILITY = CapabilityFilter()


@pytest.mark.parametrize(
    ("requirements", "capabilities", "expected"),
    [
        ((), (), PASS),
        (("torch",), ("torch",), PASS),
        (("torch",), ("torch", "gpu", "onnx"), PASS),
        (("gpu",), ("torch",), Reject("lacks capability gpu")),
        (("torch", "gpu", "fp8"), ("torch",), Reject("lacks capabilities fp8, gpu")),
        (("gpu",), (), Reject("lacks capability gpu")),
    ],
)
def test_capability_check(
    requirements: tuple[str, ...], capabilities: tuple[str, ...], expected: Verdict
) -> None:
    target = server("a", capabilities=capabilities)
    verdict, allowed = judge(CAPABILITY, demand(requirements=requirements), target)
    assert verdict == expected
    assert allowed == (verdict == PASS)


@pytest.mark.parametrize(
    ("requirements", "pool", "servers", "expected"),
    [
        (("gpu",), None, [server("a", capabilities=["torch"])], ["no server has capability gpu"]),
        (
            ("gpu",),
            "gpu-pool",
            [server("a", pool="gpu-pool")],
            ["no server in pool 'gpu-pool' has capability gpu"],
        ),
        (
            ("gpu", "torch"),
            None,
            [server("a", capabilities=["torch"]), server("b", capabilities=["gpu"])],
            ["no server has all of capabilities gpu, torch"],
        ),
        (
            ("gpu", "fp8"),
            None,
            [server("a"), server("b", capabilities=["fp8"])],
            ["no server has capability gpu"],
        ),
        (
            ("gpu",),
            None,
            [server("a"), server("b"), server("c", capabilities=["gpu"])],
            ["2 servers lack capability gpu"],
        ),
        (("gpu",), None, [server("a", capabilities=["gpu"])], []),
    ],
)
def test_capability_summary(
    requirements: tuple[str, ...],
    pool: str | None,
    servers: list[ServerSnapshot],
    expected: list[str],
) -> None:
    model = demand(requirements=requirements, pool=pool)
    assert summary(CAPABILITY, model, *servers) == expected
