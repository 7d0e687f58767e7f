"""The store seam: the few key-value operations the scheduler needs, with etcd's semantics.

Why this shape: the scheduler must survive kill -9 and a restart with nothing reloaded and
nothing lost, so every fact it needs lives here, and a write returns only once the store has
made it durable. Writers can race (an old and a new scheduler during a rollout, an operator's
tool), so every write gets a store-wide, strictly increasing *revision*, and a write can be made
conditional on the revision the writer last read (compare-and-swap): the loser gets `Conflict`
with the current entry instead of silently overwriting. A watch replays changes from a revision,
so "list at revision R, then watch from R + 1" sees every change exactly once.

Keys are relative to the store's root (for etcd, a prefix such as ``/loadmaster/v1/``); the
adapters add and strip the root, so the scheduler never sees it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Self

MUST_NOT_EXIST = 0
"""`expect_revision` meaning "the key must be absent": etcd reports revision 0 for absent keys."""


class EventKind(StrEnum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Entry:
    """One key as stored: `revision` is its last modification, `create_revision` its creation."""

    key: str
    value: bytes
    revision: int
    create_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """One change seen by a watch; a delete has an empty value and the deletion's revision."""

    kind: EventKind
    key: str
    value: bytes
    revision: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Entries under a prefix as of one store revision, the starting point for a watch."""

    entries: tuple[Entry, ...]
    revision: int


def check_key(key: str) -> str:
    """Reject keys that would escape or blur the root-relative layout."""
    if not key or key.startswith("/"):
        raise ValueError(f"store keys are non-empty and relative to the root, got {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    if prefix.startswith("/"):
        raise ValueError(f"store prefixes are relative to the root, got {prefix!r}")
    return prefix


class Store(ABC):
    """A revisioned key-value store; `MemoryStore` for unit tests, `EtcdStore` in production."""

    @property
    @abstractmethod
    def address(self) -> str:
        """Where the data lives, for error messages and logs (``etcd://host:port``)."""

    @abstractmethod
    async def get(self, key: str) -> Entry | None:
        """The entry at `key`, or None when absent."""

    @abstractmethod
    async def snapshot(self, prefix: str = "") -> Snapshot:
        """Every entry whose key starts with `prefix`, sorted by key, read at one revision."""

    async def list(self, prefix: str = "") -> list[Entry]:
        """Every entry whose key starts with `prefix`, sorted by key."""
        return list((await self.snapshot(prefix)).entries)

    @abstractmethod
    async def put(self, key: str, value: bytes, expect_revision: int | None = None) -> int:
        """Write `value` and return the new revision once it is durable.

        With `expect_revision`, write only if the key's current revision equals it (0: only if
        absent); otherwise raise `Conflict` carrying the current entry.
        """

    @abstractmethod
    async def delete(self, key: str, expect_revision: int | None = None) -> bool:
        """Delete `key`; True when something was deleted, False when it was already absent.

        With `expect_revision`, delete only if the key's current revision equals it, else raise
        `Conflict`. Expecting 0 on an absent key passes and deletes nothing.
        """

    @abstractmethod
    def watch(
        self, prefix: str = "", start_revision: int | None = None
    ) -> AsyncGenerator[Event, None]:
        """Changes under `prefix` in revision order, from `start_revision` (None: from now on).

        The watch begins at the first iteration, so pass a revision (a snapshot's plus one)
        to miss nothing. Errors surface from the iteration: `Compacted` when the history is
        gone, `StoreUnavailable` when the store goes away. The iterator ends when the store
        closes; close it early with ``contextlib.aclosing`` to release the server-side watch.
        """

    @abstractmethod
    async def close(self) -> None:
        """Release connections and end open watches; idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
