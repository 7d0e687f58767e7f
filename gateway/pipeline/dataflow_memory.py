"""What the dataflow worker has already decided, so a redelivered record decides nothing twice.

Delivery is at-least-once: after a rebalance or a produce retry a source can arrive again for
a target that already fired, was skipped or failed. Its join state is gone by then (kept state
would grow without bound), so the decision itself is remembered, keyed by (request, target),
until the request's deadline: after that every record of the request is dropped as expired
anyway. The memory is bounded (least recently added forgotten first), because a flood of
requests with far deadlines must not grow it without limit; a key forgotten early only costs
a duplicate step request, which the model worker de-duplicates in turn.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_CAPACITY = 100_000


class DecidedTargets:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._until: OrderedDict[tuple[str, str], int] = OrderedDict()  # -> deadline, unix ms

    def __len__(self) -> int:
        return len(self._until)

    def add(self, request: str, target: str, deadline_ms: int) -> None:
        key = (request, target)
        self._until[key] = deadline_ms
        self._until.move_to_end(key)
        while len(self._until) > self.capacity:
            self._until.popitem(last=False)

    def has(self, request: str, target: str, now_ms: int) -> bool:
        deadline = self._until.get((request, target))
        return deadline is not None and now_ms < deadline

    def forget_expired(self, now_ms: int) -> None:
        """Drop the oldest keys whose deadline passed (deadlines grow roughly in insertion
        order; a later one that expired first is dropped when it reaches the front)."""
        while self._until:
            key, deadline = next(iter(self._until.items()))
            if deadline > now_ms:
                return
            del self._until[key]
