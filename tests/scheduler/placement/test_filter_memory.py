from __future__ import annotations

import pytest

from scheduler.placement import ModelDemand, ServerSnapshot
from scheduler.placement.filters import PASS, MemoryFilter, Reject, Verdict
from scheduler.placement.wording import TIMES as X
from tests.scheduler.placement.builders import demand, judge, replica, server, summary

MEMORY = MemoryFilter()


@pytest.mark.parametrize(
    ("model", "target", "expected"),
    [
        (demand(memory="1Gi"), server("a", "1Gi"), PASS),  # exactly full is a fit
        (
            demand(memory="1Gi"),
            server("a", "1023Mi"),
            Reject(f"needs 1Gi per replica (1Gi {X} 1 worker), has 1023Mi free"),
        ),
        # Each worker holds a full copy: the server's workers multiply the cost...
        (
            demand(memory="512Mi"),
            server("a", "1.5Gi", workers=4),
            Reject(f"needs 2Gi per replica (512Mi {X} 4 workers), has 1.5Gi free"),
        ),
        (demand(memory="512Mi"), server("a", "2Gi", workers=4), PASS),
        # ...unless the model sets its own instance count.
        (demand(memory="512Mi", instances=1), server("a", "1Gi", workers=4), PASS),
        (
            demand(memory="512Mi", instances=3),
            server("a", "1Gi", workers=1),
            Reject(f"needs 1.5Gi per replica (512Mi {X} 3 workers), has 1Gi free"),
        ),
        # Memory other replicas hold is not free.
        (
            demand(memory="1Gi"),
            server("a", "2Gi", replicas=[replica(memory="1.5Gi")]),
            Reject(f"needs 1Gi per replica (1Gi {X} 1 worker), has 512Mi free"),
        ),
        # Overcommit: 2Gi at 50% admits 3Gi.
        (demand(memory="3Gi"), server("a", "2Gi", overcommit=50), PASS),
        (
            demand(memory="3Gi"),
            server("a", "2Gi", overcommit=49),
            Reject(f"needs 3Gi per replica (3Gi {X} 1 worker), has 3051Mi free"),
        ),
        # Lowering overcommit can leave a server over-full; users read that as nothing free.
        (
            demand(memory="1Mi"),
            server("a", "1Gi", replicas=[replica(memory="2Gi")]),
            Reject(f"needs 1Mi per replica (1Mi {X} 1 worker), has 0 free"),
        ),
    ],
)
def test_memory_check(model: ModelDemand, target: ServerSnapshot, expected: Verdict) -> None:
    verdict, allowed = judge(MEMORY, model, target)
    assert verdict == expected
    assert allowed == (verdict == PASS)


@pytest.mark.parametrize(
    ("model", "servers", "expected"),
    [
        (
            demand(memory="512Mi"),
            [server("a", "1Gi", workers=4), server("b", "1.5Gi", workers=4)],
            [f"needs 2Gi per replica (512Mi {X} 4 workers), largest free is 1.5Gi on server b"],
        ),
        # Worker counts differ: name the closest fit, not the server with most free memory.
        (
            demand(memory="1Gi"),
            [server("a", "3.5Gi", workers=4), server("b", "900Mi", workers=1)],
            [f"needs 1Gi per replica (1Gi {X} 1 worker), closest fit is server b with 900Mi free"],
        ),
        (
            demand(memory="1Gi"),
            [server("a", "512Mi"), server("b", "2Gi")],
            [
                f"1 server short of memory: needs 1Gi per replica (1Gi {X} 1 worker), "
                "largest free is 512Mi on server a"
            ],
        ),
        (demand(memory="1Gi"), [server("a", "2Gi")], []),
    ],
)
def test_memory_summary(
    model: ModelDemand, servers: list[ServerSnapshot], expected: list[str]
) -> None:
    assert summary(MEMORY, model, *servers) == expected
