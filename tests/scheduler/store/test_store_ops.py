"""Reads, listings, revisions and watches, against MemoryStore and a real etcd alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from scheduler.store import Compacted, Entry, Event, EventKind, Store, StoreClosed
from tests.scheduler.store.conftest import Backend

# A bound on waiting for an event that should already be on its way, so a broken watch fails
# the test instead of hanging it; no assertion depends on how long anything took.
EVENT_WAIT_S = 5.0


async def next_event(events: AsyncIterator[Event]) -> Event:
    return await asyncio.wait_for(anext(events), EVENT_WAIT_S)


async def test_get_of_an_absent_key_is_none(store: Store) -> None:
    assert await store.get("models/nothing") is None


async def test_put_then_get_returns_value_and_revisions(store: Store) -> None:
    created = await store.put("models/iris", b"v1")
    assert await store.get("models/iris") == Entry("models/iris", b"v1", created, created)
    updated = await store.put("models/iris", b"v2")
    assert updated > created
    assert await store.get("models/iris") == Entry("models/iris", b"v2", updated, created)


async def test_revisions_increase_across_keys(store: Store) -> None:
    revisions = [await store.put(key, b"x") for key in ("a", "b", "a", "c")]
    assert revisions == sorted(set(revisions))


async def test_list_by_prefix_is_sorted_relative_and_bounded(store: Store) -> None:
    for key in ("models/b", "models/a", "modelsx/c", "servers/s", "models/a/versions/1"):
        await store.put(key, key.encode())
    last = await store.put("models/c", b"models/c")
    listed = await store.list("models/")
    assert [e.key for e in listed] == ["models/a", "models/a/versions/1", "models/b", "models/c"]
    assert all(e.value == e.key.encode() for e in listed)
    snapshot = await store.snapshot("models/")
    assert snapshot.entries == tuple(listed) and snapshot.revision == last
    assert await store.list("nothing/") == []


async def test_delete_removes_from_get_and_list(store: Store) -> None:
    await store.put("servers/s1", b"1")
    await store.put("servers/s2", b"2")
    assert await store.delete("servers/s1") is True
    assert await store.delete("servers/s1") is False
    assert await store.get("servers/s1") is None
    assert [e.key for e in await store.list("servers/")] == ["servers/s2"]


async def test_watch_replays_from_a_revision_in_order_then_follows(store: Store) -> None:
    first = await store.put("replicas/m/1/a", b"loading")
    await store.put("models/m", b"ignored: outside the prefix")
    second = await store.put("replicas/m/1/a", b"available")
    deleted = await store.delete("replicas/m/1/a")
    assert deleted
    async with aclosing(store.watch("replicas/", first)) as events:
        seen = [await next_event(events) for _ in range(3)]
        assert [(e.kind, e.key, e.value) for e in seen] == [
            (EventKind.PUT, "replicas/m/1/a", b"loading"),
            (EventKind.PUT, "replicas/m/1/a", b"available"),
            (EventKind.DELETE, "replicas/m/1/a", b""),
        ]
        assert seen[0].revision == first and seen[1].revision == second
        assert seen[2].revision > second
        live = await store.put("replicas/m/1/b", b"loading")
        assert await next_event(events) == Event(EventKind.PUT, "replicas/m/1/b", b"loading", live)


async def test_watch_from_a_listing_sees_each_later_change_once(store: Store) -> None:
    await store.put("servers/s1", b"up")
    snapshot = await store.snapshot("servers/")
    async with aclosing(store.watch("servers/", snapshot.revision + 1)) as events:
        later = await store.put("servers/s2", b"up")
        assert await next_event(events) == Event(EventKind.PUT, "servers/s2", b"up", later)


async def test_watch_of_compacted_history_raises_compacted(backend: Backend) -> None:
    store = backend.store
    old = await store.put("models/a", b"1")
    await store.put("models/a", b"2")
    latest = await store.put("models/a", b"3")
    backend.compact(latest)
    async with aclosing(store.watch("models/", old)) as events:
        with pytest.raises(Compacted) as raised:
            await next_event(events)
    assert raised.value.compact_revision == latest


async def test_closing_the_store_ends_its_watches(backend: Backend) -> None:
    store = backend.store
    start = await store.put("models/a", b"1")
    events = store.watch("models/", start)
    assert (await next_event(events)).revision == start
    await store.close()
    with pytest.raises(StopAsyncIteration):
        await next_event(events)
    await store.close()  # idempotent
    with pytest.raises(StoreClosed):
        await store.get("models/a")


@pytest.mark.parametrize("key", ["", "/models/a"])
async def test_keys_are_non_empty_and_relative(store: Store, key: str) -> None:
    with pytest.raises(ValueError, match="relative"):
        await store.put(key, b"x")
    with pytest.raises(ValueError, match="relative"):
        await store.get(key)
