"""Typed reads and writes of records: a store entry decoded, with the revision to CAS on.

Why carry the revision with the value: the scheduler's writes are read-modify-write (load a
model, change its status, save), and two writers must not silently overwrite each other. Saving
with the revision that was loaded turns a lost race into `Conflict` rather than a lost update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from scheduler.store.base import Store
from scheduler.store.codec import decode, encode

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stored(Generic[T]):
    """A decoded record, its key, and the revision to pass as `expect_revision` when saving."""

    key: str
    value: T
    revision: int


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """Records under a prefix as of `revision`; watch from ``revision + 1`` to follow them."""

    items: tuple[Stored[T], ...]
    revision: int


async def load(store: Store, key: str, cls: type[T]) -> Stored[T] | None:
    entry = await store.get(key)
    return None if entry is None else Stored(key, decode(entry.value, cls), entry.revision)


async def load_all(
    store: Store, prefix: str, cls: type[T], *, where: Callable[[str], bool] | None = None
) -> Listing[T]:
    """Records under `prefix` whose key passes `where` (e.g. models, not their versions)."""
    snapshot = await store.snapshot(prefix)
    items = tuple(
        Stored(e.key, decode(e.value, cls), e.revision)
        for e in snapshot.entries
        if where is None or where(e.key)
    )
    return Listing(items, snapshot.revision)


async def save(store: Store, key: str, record: object, expect_revision: int | None = None) -> int:
    """Write `record` (CAS when `expect_revision` is given) and return its new revision."""
    return await store.put(key, encode(record), expect_revision)
