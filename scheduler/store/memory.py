"""An in-process store with etcd's semantics, so unit tests exercise real CAS and watch paths.

It copies the behaviours the scheduler relies on rather than a simplification of them: one
store-wide revision counter starting at 1 like a fresh etcd, per-key create and modification
revisions, compare-and-swap on revisions, watches that replay history from a revision, and
compaction that makes older history unavailable. Being single-threaded asyncio, every operation
is atomic without locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from scheduler.store.base import (
    Entry,
    Event,
    EventKind,
    Snapshot,
    Store,
    check_key,
    check_prefix,
)
from scheduler.store.errors import Compacted, Conflict, StoreClosed


class MemoryStore(Store):
    """Keeps every entry and the full event history (until `compact`) in memory."""

    def __init__(self) -> None:
        self._revision = 1
        self._compacted = 0
        self._entries: dict[str, Entry] = {}
        self._history: list[Event] = []
        self._watchers: set[asyncio.Queue[Event | None]] = set()
        self._closed = False

    @property
    def address(self) -> str:
        return "memory://"

    @property
    def revision(self) -> int:
        """The store's current revision, as etcd reports in its response headers."""
        return self._revision

    async def get(self, key: str) -> Entry | None:
        self._check_open()
        return self._entries.get(check_key(key))

    async def snapshot(self, prefix: str = "") -> Snapshot:
        self._check_open()
        check_prefix(prefix)
        entries = sorted(
            (e for k, e in self._entries.items() if k.startswith(prefix)), key=lambda e: e.key
        )
        return Snapshot(tuple(entries), self._revision)

    async def put(self, key: str, value: bytes, expect_revision: int | None = None) -> int:
        self._check_open()
        current = self._entries.get(check_key(key))
        self._check_expected(key, current, expect_revision)
        self._revision += 1
        created = current.create_revision if current is not None else self._revision
        self._entries[key] = Entry(key, bytes(value), self._revision, created)
        self._publish(Event(EventKind.PUT, key, bytes(value), self._revision))
        return self._revision

    async def delete(self, key: str, expect_revision: int | None = None) -> bool:
        self._check_open()
        current = self._entries.get(check_key(key))
        self._check_expected(key, current, expect_revision)
        if current is None:
            return False
        self._revision += 1
        del self._entries[key]
        self._publish(Event(EventKind.DELETE, key, b"", self._revision))
        return True

    async def watch(
        self, prefix: str = "", start_revision: int | None = None
    ) -> AsyncGenerator[Event, None]:
        self._check_open()
        check_prefix(prefix)
        if start_revision is not None and 0 < start_revision < self._compacted:
            raise Compacted(self._compacted)
        first = start_revision if start_revision else self._revision + 1
        # Take the replay and register for live events in one step (no await in between), so
        # no event falls between the two and none arrives twice.
        replay = [e for e in self._history if e.revision >= first and e.key.startswith(prefix)]
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            for old in replay:
                yield old
            while (new := await queue.get()) is not None:
                if new.revision >= first and new.key.startswith(prefix):
                    yield new
        finally:
            self._watchers.discard(queue)

    def compact(self, revision: int) -> None:
        """Forget history before `revision`, as etcd's compaction does (a test hook)."""
        self._compacted = max(self._compacted, min(revision, self._revision))
        self._history = [e for e in self._history if e.revision >= self._compacted]

    async def close(self) -> None:
        self._closed = True
        for queue in self._watchers:
            queue.put_nowait(None)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the memory store is closed")

    @staticmethod
    def _check_expected(key: str, current: Entry | None, expect_revision: int | None) -> None:
        if expect_revision is None:
            return
        actual = current.revision if current is not None else 0
        if actual != expect_revision:
            raise Conflict(key, expect_revision, current)

    def _publish(self, event: Event) -> None:
        self._history.append(event)
        for queue in self._watchers:
            queue.put_nowait(event)
