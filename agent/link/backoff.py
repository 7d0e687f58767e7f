"""Exponential back-off between attempts to reach the scheduler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    """0.2 s doubling to 5 s by default: quick after a blip, gentle on a scheduler that is down
    for long. `reset` after a stream that registered, so the next loss starts quick again."""

    initial_s: float = 0.2
    maximum_s: float = 5.0
    factor: float = 2.0
    _next_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.maximum_s or self.factor < 1:
            raise ValueError("back-off needs 0 < initial <= maximum and factor >= 1")
        self._next_s = self.initial_s

    def next(self) -> float:
        delay = self._next_s
        self._next_s = min(self._next_s * self.factor, self.maximum_s)
        return delay

    def reset(self) -> None:
        self._next_s = self.initial_s
