"""Compare-and-swap semantics, table-driven, against MemoryStore and a real etcd alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from scheduler.store import MUST_NOT_EXIST, Conflict, Store


@dataclass(frozen=True)
class Rev:
    """The revision returned by a key's put `back` writes ago (0: its latest put)."""

    key: str
    back: int = 0


Expect = int | Rev | None


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes
    expect: Expect = None
    conflict: bool = False


@dataclass(frozen=True)
class Delete:
    key: str
    expect: Expect = None
    conflict: bool = False
    deleted: bool = True


Step = Put | Delete
CASES: dict[str, tuple[list[Step], dict[str, bytes | None]]] = {
    "unconditional put creates": ([Put("a", b"1")], {"a": b"1"}),
    "must-not-exist creates an absent key": ([Put("a", b"1", MUST_NOT_EXIST)], {"a": b"1"}),
    "must-not-exist refuses a present key": (
        [Put("a", b"1"), Put("a", b"2", MUST_NOT_EXIST, conflict=True)],
        {"a": b"1"},
    ),
    "put at the current revision wins": (
        [Put("a", b"1"), Put("a", b"2", Rev("a"))],
        {"a": b"2"},
    ),
    "put at a stale revision conflicts": (
        [Put("a", b"1"), Put("a", b"2"), Put("a", b"3", Rev("a", 1), conflict=True)],
        {"a": b"2"},
    ),
    "another key's revision is not this key's": (
        [Put("a", b"1"), Put("b", b"1"), Put("a", b"2", Rev("b"), conflict=True)],
        {"a": b"1", "b": b"1"},
    ),
    "a deleted key's old revision conflicts": (
        [Put("a", b"1"), Delete("a"), Put("a", b"2", Rev("a"), conflict=True)],
        {"a": None},
    ),
    "must-not-exist recreates a deleted key": (
        [Put("a", b"1"), Delete("a"), Put("a", b"2", MUST_NOT_EXIST)],
        {"a": b"2"},
    ),
    "delete removes a present key": ([Put("a", b"1"), Delete("a")], {"a": None}),
    "delete of an absent key deletes nothing": ([Delete("a", deleted=False)], {"a": None}),
    "delete at the current revision": ([Put("a", b"1"), Delete("a", Rev("a"))], {"a": None}),
    "delete at a stale revision conflicts": (
        [Put("a", b"1"), Put("a", b"2"), Delete("a", Rev("a", 1), conflict=True)],
        {"a": b"2"},
    ),
    "delete expecting absence of a present key conflicts": (
        [Put("a", b"1"), Delete("a", MUST_NOT_EXIST, conflict=True)],
        {"a": b"1"},
    ),
    "delete expecting absence of an absent key passes": (
        [Delete("a", MUST_NOT_EXIST, deleted=False)],
        {"a": None},
    ),
}


@pytest.mark.parametrize("steps,final", list(CASES.values()), ids=list(CASES))
async def test_cas(store: Store, steps: list[Step], final: dict[str, bytes | None]) -> None:
    written: dict[str, list[int]] = {}
    revisions: list[int] = []

    def resolve(expect: Expect) -> int | None:
        if isinstance(expect, Rev):
            return written[expect.key][-1 - expect.back]
        return expect

    for step in steps:
        expect = resolve(step.expect)
        before = await store.get(step.key)
        try:
            if isinstance(step, Put):
                revision = await store.put(step.key, step.value, expect)
                written.setdefault(step.key, []).append(revision)
                revisions.append(revision)
            else:
                assert await store.delete(step.key, expect) is step.deleted
        except Conflict as conflict:
            assert step.conflict, f"{step} raised {conflict}"
            assert conflict.key == step.key and conflict.expected == expect
            assert conflict.current == before == await store.get(step.key)
        else:
            assert not step.conflict, f"{step} should have raised Conflict"
    assert revisions == sorted(set(revisions)), "revisions must strictly increase"
    for key, value in final.items():
        entry = await store.get(key)
        assert (entry.value if entry else None) == value


async def test_racing_writers_exactly_one_wins(store: Store) -> None:
    base = await store.put("race", b"0")
    writes = (store.put("race", value, expect_revision=base) for value in (b"a", b"b", b"c"))
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    winners = [o for o in outcomes if isinstance(o, int)]
    losers = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(winners) == 1 and len(losers) == 2, outcomes
    current = await store.get("race")
    assert current is not None and current.revision == winners[0]
    assert all(loser.current == current for loser in losers)
