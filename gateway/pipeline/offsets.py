"""Which offsets a worker may commit while many records of one partition are in flight at once.

Kafka stores one offset per partition: "everything before this was handled". A worker that
handles records concurrently finishes them in any order, so it may only commit up to the first
record it has not finished yet; committing further would lose that record if the worker died
(at-least-once). `OffsetTracker` keeps, per partition, the records started and not yet finished,
and moves the partition's committable offset past the longest finished prefix.

Offsets in a partition need not be contiguous (compaction, transaction markers), so the prefix
is over the records actually started, not over every integer.

A partition can move away (rebalance) while its records are in flight, and come back with its
records delivered again from the last commit. `forget` drops a partition's state; records
started before are finished through a `Ticket` whose epoch no longer matches, which is ignored.
A start at or below an offset already started in the partition means the consumer went back
(a rebalance that kept the partition still rewinds to the committed offset): the tracker
forgets the partition by itself and starts afresh from that record.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from loadmaster.kafka.bus import TopicPartition


@dataclass(frozen=True, slots=True)
class Ticket:
    """One started record: hand it back to `OffsetTracker.finish` when the record is done."""

    partition: TopicPartition
    offset: int
    epoch: int


@dataclass(slots=True)
class _Partition:
    epoch: int
    next_offset: int  # the offset after the finished prefix: what may be committed
    last_started: int
    order: deque[int] = field(default_factory=deque)  # started, not yet past the prefix
    finished: set[int] = field(default_factory=set)  # finished, but behind an unfinished one


class OffsetTracker:
    """Per partition, the offset after the longest finished prefix of the records started.

    `committable()` answers only the partitions whose offset moved past the first record
    started and past what `committed` last confirmed, so a caller commits nothing twice (nor
    the position it was given) and retries what a failed commit left.
    """

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._confirmed: dict[TopicPartition, int] = {}
        self._epochs = itertools.count(1)

    def start(self, partition: TopicPartition, offset: int) -> Ticket:
        state = self._partitions.get(partition)
        if state is None or offset <= state.last_started:
            self.forget([partition])
            state = _Partition(epoch=next(self._epochs), next_offset=offset, last_started=offset)
            self._partitions[partition] = state
            self._confirmed[partition] = offset  # nothing to commit until a record finishes
        state.last_started = offset
        state.order.append(offset)
        return Ticket(partition, offset, state.epoch)

    def finish(self, ticket: Ticket) -> None:
        """Mark the record done; tickets of a forgotten partition are ignored."""
        state = self._partitions.get(ticket.partition)
        if state is None or state.epoch != ticket.epoch:
            return
        state.finished.add(ticket.offset)
        order = state.order
        while order and order[0] in state.finished:
            done = order.popleft()
            state.finished.discard(done)
            state.next_offset = done + 1

    def committable(self) -> dict[TopicPartition, int]:
        """The partitions whose committable offset is ahead of the last confirmed commit."""
        return {
            tp: state.next_offset
            for tp, state in self._partitions.items()
            if state.next_offset > self._confirmed.get(tp, -1)
        }

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        """Confirm that `offsets` were stored, so `committable` stops answering them."""
        for tp, offset in offsets.items():
            if tp in self._partitions:
                self._confirmed[tp] = max(offset, self._confirmed.get(tp, -1))

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Drop the state of `partitions` (revoked, or delivered again from the last commit)."""
        for tp in partitions:
            self._partitions.pop(tp, None)
            self._confirmed.pop(tp, None)

    def partitions(self) -> frozenset[TopicPartition]:
        """The partitions with state."""
        return frozenset(self._partitions)

    def pending(self, partition: TopicPartition) -> int:
        """Records of `partition` started and not yet behind the committable offset."""
        state = self._partitions.get(partition)
        return len(state.order) if state is not None else 0
