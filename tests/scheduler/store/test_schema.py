"""The schema marker and store URLs: a build refuses data it does not speak, at start-up."""

from __future__ import annotations

import json

import pytest

from scheduler.store import (
    SCHEMA_VERSION,
    BadStoreUrl,
    Conflict,
    MemoryStore,
    SchemaMismatch,
    StoreError,
    StoreOptions,
    ensure_schema,
    open_store,
    parse_store_url,
)
from scheduler.store.factory import StoreUrl
from scheduler.store.schema import SCHEMA_KEY, decode_marker, root_prefix
from tests.etcd_server import EtcdServer
from tests.scheduler.store.conftest import Backend, fresh_options


def marker(version: object) -> bytes:
    return json.dumps({"kind": "Schema", "version": version}).encode()


async def test_open_claims_a_fresh_store_with_this_schema(backend: Backend) -> None:
    entry = await backend.store.get(SCHEMA_KEY)
    assert entry is not None and decode_marker(entry.value) == SCHEMA_VERSION
    assert await ensure_schema(backend.store) == SCHEMA_VERSION  # a second check passes
    assert (await backend.store.get(SCHEMA_KEY)) == entry  # and rewrites nothing


@pytest.mark.parametrize(
    "stored,message",
    [
        (marker(SCHEMA_VERSION + 1), "newer than schema 1 .* upgrade the scheduler"),
        (marker(SCHEMA_VERSION - 1), "older than schema 1 .* no migration"),
        (marker("1"), "unreadable"),
        (b"not json", "unreadable"),
        (json.dumps({"kind": "Other", "version": 1}).encode(), "unreadable"),
    ],
    ids=["newer", "older", "string-version", "garbage", "wrong-kind"],
)
async def test_a_foreign_schema_refuses_to_start(
    backend: Backend, stored: bytes, message: str
) -> None:
    await backend.store.put(SCHEMA_KEY, stored)
    with pytest.raises(SchemaMismatch, match=message):
        await ensure_schema(backend.store)


async def test_reopening_etcd_with_a_newer_schema_refuses(etcd_server: EtcdServer) -> None:
    options = fresh_options()
    first = await open_store(etcd_server.url, options)
    await first.put(SCHEMA_KEY, marker(SCHEMA_VERSION + 1))
    await first.close()
    with pytest.raises(SchemaMismatch, match=f"{etcd_server.url}.*holds schema 2"):
        await open_store(etcd_server.url, options)
    other = await open_store(etcd_server.url, fresh_options())  # other namespaces are untouched
    await other.close()


class LosesEveryClaim(MemoryStore):
    """A store where the marker is always taken, then gone again, by someone else."""

    async def put(self, key: str, value: bytes, expect_revision: int | None = None) -> int:
        raise Conflict(key, expect_revision or 0, None)


async def test_a_claim_that_keeps_losing_gives_up_instead_of_spinning() -> None:
    with pytest.raises(StoreError, match="could not claim the schema marker at memory://"):
        await ensure_schema(LosesEveryClaim())


def test_the_root_carries_the_namespace_and_schema_version() -> None:
    assert root_prefix() == f"/loadmaster/v{SCHEMA_VERSION}/"
    assert root_prefix("/prod/") == f"/prod/v{SCHEMA_VERSION}/"
    with pytest.raises(ValueError, match="starts and ends with '/'"):
        root_prefix("prod")


@pytest.mark.parametrize(
    "url,parsed",
    [
        ("etcd://127.0.0.1:2379", StoreUrl("etcd", "127.0.0.1", 2379)),
        ("etcd://etcd.internal", StoreUrl("etcd", "etcd.internal", 2379)),
        ("etcd://[::1]:23790/", StoreUrl("etcd", "::1", 23790)),
        ("memory://", StoreUrl("memory")),
    ],
)
def test_store_urls_that_open(url: str, parsed: StoreUrl) -> None:
    assert parse_store_url(url) == parsed


@pytest.mark.parametrize(
    "url,message",
    [
        ("redis://h:6379", "unsupported store URL scheme 'redis'.*etcd://HOST:PORT or memory://"),
        ("127.0.0.1:2379", "unsupported store URL scheme"),
        ("", "unsupported store URL scheme '\\(none\\)'"),
        ("etcd://", "has no host"),
        ("etcd://h:port", "cannot parse"),
        ("etcd://h:2379/loadmaster", "only a host and port"),
        ("memory://somewhere", "take no address"),
    ],
)
async def test_store_urls_that_do_not_open(url: str, message: str) -> None:
    with pytest.raises(BadStoreUrl, match=message):
        await open_store(url, StoreOptions())
