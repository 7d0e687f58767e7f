"""Fixtures that run the same store tests against MemoryStore and a real etcd.

The etcd process is started once per test module and only when an etcd-backed test runs; each
test gets its own namespace in it, so tests sharing the process never see each other's keys.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest

from scheduler.store import MemoryStore, Store, StoreOptions, open_store
from tests.etcd_server import EtcdServer


@dataclass(frozen=True)
class Backend:
    """An open store plus what a test needs to reach behind it."""

    name: str
    store: Store
    url: str
    options: StoreOptions
    compact: Callable[[int], None]


@pytest.fixture(scope="module")
def etcd_server() -> Iterator[EtcdServer]:
    with EtcdServer() as server:
        yield server


def fresh_options() -> StoreOptions:
    return StoreOptions(namespace=f"/test-{uuid.uuid4().hex[:12]}/", timeout_s=5.0)


@pytest.fixture(params=["memory", "etcd"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    options = fresh_options()
    if request.param == "memory":
        store = await open_store("memory://", options)
        assert isinstance(store, MemoryStore)
        yield Backend("memory", store, "memory://", options, store.compact)
    else:
        server: EtcdServer = request.getfixturevalue("etcd_server")
        store = await open_store(server.url, options)
        yield Backend("etcd", store, server.url, options, server.compact)
    await store.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.store
