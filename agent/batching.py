"""Adaptive batching: gather requests for one model for up to `max_batch_time`, run them as one.

Requests are concatenated along the first dimension, the outputs are split back by each
request's row count. Only requests that agree on input names, datatypes, trailing dimensions
and parameters share a batch. If a batch fails, its requests run one by one, so one bad
request's error stays its own and the others still get answers.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from loadmaster.oip.types import Parameters, Tensor

RunBatch = Callable[[tuple[Tensor, ...], Parameters], Awaitable[tuple[Tensor, ...]]]


def _batch_key(inputs: tuple[Tensor, ...], parameters: Parameters) -> tuple[object, ...] | None:
    """What must match for two requests to share a batch; None if this one cannot batch."""
    parts: list[object] = []
    for tensor in inputs:
        if not tensor.shape:
            return None
        parts.append((tensor.name, tensor.datatype, tensor.shape[1:]))
    rows = {t.shape[0] for t in inputs}
    if len(rows) != 1:
        return None
    parts.append(tuple(sorted((k, repr(v)) for k, v in parameters.items())))
    return tuple(parts)


@dataclass(slots=True)
class _Pending:
    inputs: tuple[Tensor, ...]
    parameters: Parameters
    rows: int
    future: asyncio.Future[tuple[Tensor, ...]] = field(repr=False)


class AdaptiveBatcher:
    def __init__(self, max_batch_size: int, max_batch_time_s: float, run: RunBatch) -> None:
        self.max_batch_size = max_batch_size
        self.max_batch_time_s = max_batch_time_s
        self._run = run
        self._queues: dict[tuple[object, ...], list[_Pending]] = {}
        self._timers: dict[tuple[object, ...], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def queue_depth(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def submit(
        self, inputs: tuple[Tensor, ...], parameters: Parameters
    ) -> tuple[Tensor, ...]:
        key = _batch_key(inputs, parameters)
        rows = inputs[0].shape[0] if key is not None and inputs else 0
        if key is None or rows >= self.max_batch_size:
            return await self._run(inputs, parameters)
        loop = asyncio.get_running_loop()
        pending = _Pending(inputs, parameters, rows, loop.create_future())
        queue = self._queues.setdefault(key, [])
        queue.append(pending)
        if sum(p.rows for p in queue) >= self.max_batch_size:
            self._flush(key)
        elif key not in self._timers:
            self._timers[key] = loop.call_later(self.max_batch_time_s, self._flush, key)
        return await pending.future

    def _flush(self, key: tuple[object, ...]) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        queue = self._queues.pop(key, [])
        batch: list[_Pending] = []
        rows = 0
        for pending in queue:
            if batch and rows + pending.rows > self.max_batch_size:
                self._start(batch)
                batch, rows = [], 0
            batch.append(pending)
            rows += pending.rows
        if batch:
            self._start(batch)

    def _start(self, batch: list[_Pending]) -> None:
        task = asyncio.create_task(self._execute(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, batch: list[_Pending]) -> None:
        if len(batch) == 1:
            await self._execute_one(batch[0])
            return
        try:
            outputs = await self._run(_concatenate(batch), batch[0].parameters)
            split = _split(outputs, [p.rows for p in batch])
        except Exception:
            await asyncio.gather(*(self._execute_one(p) for p in batch))
            return
        for pending, part in zip(batch, split, strict=True):
            if not pending.future.done():
                pending.future.set_result(part)

    async def _execute_one(self, pending: _Pending) -> None:
        try:
            result = await self._run(pending.inputs, pending.parameters)
        except Exception as exc:
            if not pending.future.done():
                pending.future.set_exception(exc)
            return
        if not pending.future.done():
            pending.future.set_result(result)


def _concatenate(batch: list[_Pending]) -> tuple[Tensor, ...]:
    first = batch[0].inputs
    merged: list[Tensor] = []
    for index, tensor in enumerate(first):
        data = np.concatenate([p.inputs[index].data for p in batch], axis=0)
        merged.append(Tensor(tensor.name, tensor.datatype, tuple(data.shape), data))
    return tuple(merged)


def _split(outputs: tuple[Tensor, ...], rows: list[int]) -> list[tuple[Tensor, ...]]:
    total = sum(rows)
    for tensor in outputs:
        if not tensor.shape or tensor.shape[0] != total:
            raise ValueError(f"output {tensor.name!r} has no batch dimension of {total}")
    bounds = np.cumsum([0, *rows])
    parts: list[tuple[Tensor, ...]] = []
    for start, stop in itertools.pairwise(bounds):
        parts.append(
            tuple(
                Tensor(t.name, t.datatype, (int(stop - start), *t.shape[1:]), t.data[start:stop])
                for t in outputs
            )
        )
    return parts
