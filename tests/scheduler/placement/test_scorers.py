from __future__ import annotations

import numpy as np
import pytest

from scheduler.placement import ModelDemand, ServerSnapshot
from scheduler.placement.scorers import (
    BestFitScorer,
    GpuReserveScorer,
    ModelAffinityScorer,
    Scorer,
    SpreadScorer,
)
from tests.scheduler.placement.builders import context, demand, replica, server

# Largest usable memory is 8Gi, the scale every packing score is divided by.
FLEET = (
    server("a", "4Gi"),  # empty
    server("b", "4Gi", replicas=[replica(memory="3Gi")]),  # in use, 1Gi free
    server("c", "8Gi"),  # empty, largest
    server("d", "2Gi", replicas=[replica(memory="1Gi")]),  # in use, 1Gi free
)


def scores(scorer: Scorer, model: ModelDemand, servers: tuple[ServerSnapshot, ...]) -> list[float]:
    ctx = context(model, *servers)
    return [float(s) for s in scorer.score(ctx, np.arange(len(servers), dtype=np.int64))]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # Left after 512Mi: a 3.5Gi, b 0.5Gi, c 7.5Gi, d 0.5Gi (of 8Gi).
        # In use: 1 - left/16; empty: left/16, so the largest empty server leads the empty ones.
        (demand(memory="512Mi"), [3.5 / 16, 1 - 0.5 / 16, 7.5 / 16, 1 - 0.5 / 16]),
        # A model that fills b exactly scores b highest of all.
        (demand(memory="1Gi"), [3 / 16, 1.0, 7 / 16, 1.0]),
    ],
)
def test_best_fit(model: ModelDemand, expected: list[float]) -> None:
    assert scores(BestFitScorer(), model, FLEET) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (demand(memory="512Mi"), [3.5 / 8, 0.5 / 8, 7.5 / 8, 0.5 / 8]),
        # Workers multiply the cost, so spread sees what is left after the real cost.
        (demand(memory="512Mi", instances=2), [3 / 8, 0.0, 7 / 8, 0.0]),
    ],
)
def test_spread(model: ModelDemand, expected: list[float]) -> None:
    assert scores(SpreadScorer(), model, FLEET) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        ((server("a"), server("b")), [0.0, 0.0]),
        ((server("a"), server("b", replicas=[replica("iris", 1)])), [0.0, 1.0]),
        ((server("a", cached=["iris"]), server("b")), [1.0, 0.0]),
        ((server("a", replicas=[replica("other", 2)]), server("b")), [0.0, 0.0]),
        ((server("a", cached=["other"]), server("b", replicas=[replica("iris", 7)])), [0.0, 1.0]),
    ],
)
def test_model_affinity(servers: tuple[ServerSnapshot, ...], expected: list[float]) -> None:
    assert scores(ModelAffinityScorer(), demand("iris", version=2), servers) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (demand(), [1.0, 0.0, 0.0]),
        (demand(gpu_memory="1Gi"), [1.0, 1.0, 1.0]),
    ],
)
def test_gpu_reserve(model: ModelDemand, expected: list[float]) -> None:
    servers = (server("cpu"), server("gpu", gpus=["8Gi"]), server("gpus", gpus=["8Gi", "8Gi"]))
    assert scores(GpuReserveScorer(), model, servers) == expected
