from __future__ import annotations

import pytest

from scheduler.placement import ModelDemand, ServerSnapshot
from scheduler.placement.filters import PASS, GpuMemoryFilter, Reject, Verdict
from scheduler.placement.wording import TIMES as X
from tests.scheduler.placement.builders import demand, judge, replica, server, summary

GPU = GpuMemoryFilter()


@pytest.mark.parametrize(
    ("model", "target", "expected"),
    [
        (demand(), server("a"), PASS),  # no GPU needed, none there
        (demand(), server("a", gpus=["1Gi"]), PASS),
        (demand(gpu_memory="1Gi"), server("a"), Reject("has no GPU")),
        (demand(gpu_memory="1Gi"), server("a", gpus=["1Gi"]), PASS),
        # The replica's workers share one device: 1Gi x 4 workers must fit on a single GPU...
        (
            demand(gpu_memory="1Gi"),
            server("a", workers=4, gpus=["3Gi", "3Gi"]),
            Reject(
                f"needs 4Gi of GPU per replica (1Gi {X} 4 workers), its largest free GPU has 3Gi"
            ),
        ),
        (demand(gpu_memory="1Gi"), server("a", workers=4, gpus=["2Gi", "8Gi"]), PASS),
        # ...and the model's own instance count replaces the server's workers.
        (demand(gpu_memory="1Gi", instances=1), server("a", workers=4, gpus=["3Gi"]), PASS),
        # GPU memory held by other replicas is not free.
        (
            demand(gpu_memory="5Gi"),
            server("a", gpus=["8Gi", "4Gi"], replicas=[replica(gpu=0, gpu_memory="6Gi")]),
            Reject(
                f"needs 5Gi of GPU per replica (5Gi {X} 1 worker), its largest free GPU has 4Gi"
            ),
        ),
        (
            demand(gpu_memory="3Gi"),
            server("a", gpus=["8Gi", "4Gi"], replicas=[replica(gpu=0, gpu_memory="6Gi")]),
            PASS,
        ),
    ],
)
def test_gpu_check(model: ModelDemand, target: ServerSnapshot, expected: Verdict) -> None:
    verdict, allowed = judge(GPU, model, target)
    assert verdict == expected
    assert allowed == (verdict == PASS)


@pytest.mark.parametrize(
    ("model", "servers", "expected"),
    [
        (demand(gpu_memory="1Gi"), [server("a"), server("b")], ["no server has a GPU"]),
        (
            demand(gpu_memory="1Gi", pool="gpu-pool"),
            [server("a", pool="gpu-pool")],
            ["no server in pool 'gpu-pool' has a GPU"],
        ),
        (
            demand(gpu_memory="2Gi"),
            [server("a"), server("b", gpus=["1Gi", "1.5Gi"]), server("c", gpus=["1Gi"])],
            [
                f"needs 2Gi of GPU per replica (2Gi {X} 1 worker), largest free GPU is 1.5Gi on "
                "server b gpu 1; 1 server has no GPU"
            ],
        ),
        (demand(gpu_memory="1Gi"), [server("a", gpus=["1Gi"])], []),
    ],
)
def test_gpu_summary(
    model: ModelDemand, servers: list[ServerSnapshot], expected: list[str]
) -> None:
    assert summary(GPU, model, *servers) == expected
