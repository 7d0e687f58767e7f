"""Adaptive batching: same answers as one by one, per-request errors kept apart."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from agent.batching import AdaptiveBatcher
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.types import Parameters, Tensor


def fp32(name: str, rows: list[list[float]]) -> Tensor:
    data = np.asarray(rows, dtype=np.float32)
    return Tensor(name, DataType.FP32, tuple(data.shape), data)


class DoublingModel:
    """Doubles its input; fails a whole batch if any row holds a negative value."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def __call__(
        self, inputs: tuple[Tensor, ...], parameters: Parameters
    ) -> tuple[Tensor, ...]:
        data = inputs[0].data
        self.calls.append(int(data.shape[0]))
        await asyncio.sleep(0)
        if (data < 0).any():
            raise ValueError("negative input")
        out = data * 2
        return (Tensor("out", DataType.FP32, tuple(out.shape), out),)


async def test_concurrent_requests_batch_and_match_sequential_answers() -> None:
    model = DoublingModel()
    batcher = AdaptiveBatcher(max_batch_size=8, max_batch_time_s=0.05, run=model)
    requests = [fp32("x", [[float(i), float(i + 1)]]) for i in range(5)]
    results = await asyncio.gather(*(batcher.submit((r,), {}) for r in requests))
    assert model.calls == [5]  # one batch of five rows
    for request, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result[0].data, request.data * 2)
        assert result[0].shape == (1, 2)


async def test_full_batch_flushes_without_waiting_for_the_timer() -> None:
    model = DoublingModel()
    batcher = AdaptiveBatcher(max_batch_size=4, max_batch_time_s=60.0, run=model)
    requests = [fp32("x", [[1.0], [2.0]]) for _ in range(2)]
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit((r,), {}) for r in requests)), timeout=5
    )
    assert model.calls == [4]
    assert [r[0].shape for r in results] == [(2, 1), (2, 1)]


async def test_a_failing_request_does_not_fail_its_batch_mates() -> None:
    model = DoublingModel()
    batcher = AdaptiveBatcher(max_batch_size=8, max_batch_time_s=0.02, run=model)
    good = batcher.submit((fp32("x", [[1.0]]),), {})
    bad = batcher.submit((fp32("x", [[-1.0]]),), {})
    also_good = batcher.submit((fp32("x", [[3.0]]),), {})
    results = await asyncio.gather(good, bad, also_good, return_exceptions=True)
    assert isinstance(results[1], ValueError)
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    assert float(results[0][0].data[0, 0]) == 2.0
    assert float(results[2][0].data[0, 0]) == 6.0
    assert model.calls[0] == 3  # the batch was tried first, then each request alone


@pytest.mark.parametrize(
    ("first", "second", "parameters"),
    [
        ([[1.0, 2.0]], [[1.0, 2.0, 3.0]], ({}, {})),  # trailing dims differ
        ([[1.0]], [[2.0]], ({"a": 1}, {"a": 2})),  # parameters differ
    ],
)
async def test_incompatible_requests_never_share_a_batch(
    first: list[list[float]], second: list[list[float]], parameters: tuple[Parameters, Parameters]
) -> None:
    model = DoublingModel()
    batcher = AdaptiveBatcher(max_batch_size=8, max_batch_time_s=0.01, run=model)
    await asyncio.gather(
        batcher.submit((fp32("x", first),), parameters[0]),
        batcher.submit((fp32("x", second),), parameters[1]),
    )
    assert sorted(model.calls) == [1, 1]


async def test_oversized_request_runs_alone_immediately() -> None:
    model = DoublingModel()
    batcher = AdaptiveBatcher(max_batch_size=2, max_batch_time_s=60.0, run=model)
    result = await asyncio.wait_for(batcher.submit((fp32("x", [[1.0]] * 3),), {}), timeout=5)
    assert model.calls == [3]
    assert result[0].shape == (3, 1)
