"""OffsetTracker: what may be committed while records finish in any order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateway.pipeline.offsets import OffsetTracker, Ticket
from loadmaster.kafka.bus import TopicPartition

A = TopicPartition("t", 0)
B = TopicPartition("t", 1)


@dataclass(frozen=True)
class Case:
    name: str
    started: list[tuple[TopicPartition, int]]
    finished: list[tuple[TopicPartition, int]]
    committable: dict[TopicPartition, int]


CASES = [
    Case("nothing finished: nothing to commit", [(A, 0), (A, 1)], [], {}),
    Case("in order", [(A, 0), (A, 1), (A, 2)], [(A, 0), (A, 1)], {A: 2}),
    Case("all finished", [(A, 5), (A, 6)], [(A, 6), (A, 5)], {A: 7}),
    Case("a hole stops the prefix", [(A, 0), (A, 1), (A, 2)], [(A, 0), (A, 2)], {A: 1}),
    Case("first unfinished: nothing", [(A, 0), (A, 1), (A, 2)], [(A, 1), (A, 2)], {}),
    Case("gaps between offsets", [(A, 3), (A, 7), (A, 9)], [(A, 3), (A, 7)], {A: 8}),
    Case(
        "partitions apart",
        [(A, 0), (B, 10), (A, 1), (B, 11)],
        [(B, 10), (A, 1), (B, 11)],
        {B: 12},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_committable_is_the_finished_prefix(case: Case) -> None:
    tracker = OffsetTracker()
    tickets = {(tp, at): tracker.start(tp, at) for tp, at in case.started}
    for key in case.finished:
        tracker.finish(tickets[key])
    assert tracker.committable() == case.committable


def test_committed_offsets_are_not_answered_again_until_they_advance() -> None:
    tracker = OffsetTracker()
    first, second = tracker.start(A, 0), tracker.start(A, 1)
    tracker.finish(first)
    assert tracker.committable() == {A: 1}
    assert tracker.committable() == {A: 1}  # not confirmed yet: answered again (a retry)
    tracker.committed({A: 1})
    assert tracker.committable() == {}
    tracker.finish(second)
    assert tracker.committable() == {A: 2}
    assert tracker.pending(A) == 0


def test_forget_drops_a_partition_and_ignores_its_late_tickets() -> None:
    tracker = OffsetTracker()
    old = tracker.start(A, 0)
    other = tracker.start(B, 0)
    tracker.forget([A])
    assert tracker.partitions() == {B}
    tracker.finish(old)  # finished after the partition was revoked
    tracker.finish(other)
    assert tracker.committable() == {B: 1}


def test_a_partition_given_back_starts_afresh() -> None:
    tracker = OffsetTracker()
    old = tracker.start(A, 4)
    tracker.forget([A])
    again = tracker.start(A, 4)
    assert again != old
    tracker.finish(old)  # the first delivery ends: it says nothing of the second
    assert tracker.committable() == {}
    tracker.finish(again)
    assert tracker.committable() == {A: 5}


def test_a_rewind_forgets_the_partition_by_itself() -> None:
    """A rebalance that keeps a partition still rewinds it to the last commit."""
    tracker = OffsetTracker()
    early, late = tracker.start(A, 0), tracker.start(A, 1)
    tracker.finish(late)
    again = tracker.start(A, 0)  # delivered again
    assert isinstance(again, Ticket) and again.epoch != early.epoch
    tracker.finish(early)  # the old delivery of 0 must not free the new one
    assert tracker.committable() == {}
    tracker.finish(again)
    assert tracker.committable() == {A: 1}
    assert tracker.pending(A) == 0


def test_confirming_a_forgotten_partition_does_nothing() -> None:
    tracker = OffsetTracker()
    tracker.committed({A: 3})
    tracker.finish(tracker.start(A, 0))
    assert tracker.committable() == {A: 1}
