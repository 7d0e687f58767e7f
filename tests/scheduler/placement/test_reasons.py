"""The exact reasons users read when a model gets fewer replicas than it asked for."""

from __future__ import annotations

import pytest

from scheduler.placement import (
    ModelDemand,
    Pass,
    Reject,
    Scheduling,
    ServerSnapshot,
    explain,
    place,
)
from scheduler.placement.wording import TIMES as X
from tests.scheduler.placement.builders import demand, replica, server


@pytest.mark.parametrize(
    ("model", "servers", "scheduling", "reason"),
    [
        (
            demand(memory="512Mi"),
            [server("a", "1Gi", workers=4), server("b", "1.5Gi", workers=4)],
            Scheduling.FAILED,
            f"needs 2Gi per replica (512Mi {X} 4 workers), largest free is 1.5Gi on server b",
        ),
        (
            demand(requirements=["gpu"]),
            [server("a", capabilities=["torch"]), server("b")],
            Scheduling.FAILED,
            "no server has capability gpu",
        ),
        (
            demand(pool="gpu-pool"),
            [server("a", pool="cpu")],
            Scheduling.FAILED,
            "pinned to pool 'gpu-pool' which has no servers",
        ),
        (
            demand(pool="gpu-pool"),
            [server("a", pool="gpu-pool", draining=True), server("b", pool="cpu")],
            Scheduling.FAILED,
            "every candidate server in pool 'gpu-pool' is draining",
        ),
        (
            demand(replicas=3, min_replicas=1),
            [server("a"), server("b")],
            Scheduling.PARTIAL,
            "2 of 3 replicas placed: remaining servers already hold a replica of this version",
        ),
        (
            demand(replicas=2, min_replicas=1, requirements=["gpu"]),
            [server("a"), server("b", capabilities=["gpu"])],
            Scheduling.PARTIAL,
            "1 of 2 replicas placed: 1 server lacks capability gpu; "
            "the remaining server already holds a replica of this version",
        ),
        (
            demand(memory="2Gi"),
            [server("a", "8Gi", draining=True), server("b", "1Gi")],
            Scheduling.FAILED,
            "1 server is draining; "
            f"needs 2Gi per replica (2Gi {X} 1 worker), largest free is 1Gi on server b",
        ),
        (
            demand("iris", memory="2Gi", replicas=3, min_replicas=3),
            [
                server("a", "4Gi", replicas=[replica("iris")]),
                server("b", "4Gi"),
                server("c", "1Gi"),
            ],
            Scheduling.FAILED,
            "2 of 3 replicas placed, fewer than minReplicas 3: 2 servers already hold a replica "
            f"of this version; needs 2Gi per replica (2Gi {X} 1 worker), largest free is 1Gi on "
            "server c",
        ),
        (demand(), [], Scheduling.FAILED, "no servers registered"),
    ],
)
def test_reason(
    model: ModelDemand, servers: list[ServerSnapshot], scheduling: Scheduling, reason: str
) -> None:
    decision = place(model, servers)
    assert decision.scheduling is scheduling
    assert decision.reason == reason


def test_explain_gives_every_filters_verdict_on_one_server() -> None:
    servers = [server("a", "1Gi", capabilities=["gpu"], replicas=[replica("iris")])]
    verdicts = explain(demand("iris", "2Gi", requirements=["gpu"]), servers, "a")
    assert verdicts == {
        "pin": Pass(),
        "capability": Pass(),
        "draining": Pass(),
        "anti-affinity": Reject("already holds a replica of this version"),
        "memory": Reject(f"needs 2Gi per replica (2Gi {X} 1 worker), has 1Gi free"),
        "gpu-memory": Pass(),
    }
