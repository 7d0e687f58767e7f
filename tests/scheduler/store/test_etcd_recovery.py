"""Crash and outage behaviour against a real etcd: acknowledged writes survive kill -9, and an
unreachable etcd is reported as such, naming its address."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from scheduler.store import Entry, Store, StoreUnavailable, open_store
from tests.etcd_server import EtcdServer
from tests.scheduler.store.conftest import fresh_options

RECONNECT_ATTEMPTS = 200  # x 25 ms polling: how long an etcd restart may take to be noticed


@pytest.fixture
def own_etcd() -> Iterator[EtcdServer]:
    """A private etcd, because these tests kill it."""
    with EtcdServer() as server:
        yield server


async def test_acknowledged_writes_survive_kill_9_and_restart(own_etcd: EtcdServer) -> None:
    options = fresh_options()
    store = await open_store(own_etcd.url, options)
    written = {f"models/m{i}": f"spec {i}".encode() for i in range(20)}
    revisions = {key: await store.put(key, value) for key, value in written.items()}
    await store.close()

    own_etcd.kill()
    own_etcd.restart()

    reopened = await open_store(own_etcd.url, options)
    try:
        listed = await reopened.list("models/")
        assert {e.key: e.value for e in listed} == written
        assert {e.key: e.revision for e in listed} == revisions
    finally:
        await reopened.close()


async def test_a_dead_etcd_is_unavailable_with_its_address(own_etcd: EtcdServer) -> None:
    store = await open_store(own_etcd.url, fresh_options())
    await store.put("servers/s1", b"up")
    own_etcd.kill()
    try:
        for operation in (store.get("servers/s1"), store.put("servers/s2", b"up")):
            with pytest.raises(StoreUnavailable, match=f"store at {own_etcd.url} is unavailable"):
                await operation
        with pytest.raises(StoreUnavailable) as raised:
            await open_store(own_etcd.url, fresh_options())
        assert raised.value.address == own_etcd.url

        own_etcd.restart()  # the same store object recovers once etcd is back
        entry = await until_available(store)
        assert entry is not None and entry.value == b"up"
    finally:
        await store.close()


async def until_available(store: Store) -> Entry | None:
    # Polls for an external process to come back; nothing is asserted about the time it takes.
    for _ in range(RECONNECT_ATTEMPTS):
        try:
            return await store.get("servers/s1")
        except StoreUnavailable:
            await asyncio.sleep(0.025)
    raise AssertionError("the store did not reconnect after etcd restarted")


async def test_an_open_watch_reports_etcd_going_away(own_etcd: EtcdServer) -> None:
    store = await open_store(own_etcd.url, fresh_options())
    try:
        start = await store.put("replicas/m/1/s1", b"loading")
        events = store.watch("replicas/", start)
        assert (await asyncio.wait_for(anext(events), 5.0)).revision == start
        own_etcd.kill()
        with pytest.raises(StoreUnavailable, match=own_etcd.url):
            await asyncio.wait_for(anext(events), 5.0)
    finally:
        await store.close()
