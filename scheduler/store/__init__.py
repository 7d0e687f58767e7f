"""The scheduler's state store: desired and observed state in etcd, or in memory for tests.

`open_store(url)` gives a `Store` (`etcd://HOST:PORT` or `memory://`) whose schema has been
checked; `records` and `keys` describe how the scheduler's records are laid out in it.
"""

from scheduler.store.base import MUST_NOT_EXIST, Entry, Event, EventKind, Snapshot, Store
from scheduler.store.codec import CodecError, decode, encode
from scheduler.store.errors import (
    BadStoreUrl,
    Compacted,
    Conflict,
    SchemaMismatch,
    StoreClosed,
    StoreError,
    StoreUnavailable,
)
from scheduler.store.factory import StoreOptions, open_store, parse_store_url
from scheduler.store.memory import MemoryStore
from scheduler.store.records import Listing, Stored, load, load_all, save
from scheduler.store.schema import SCHEMA_VERSION, ensure_schema

__all__ = [
    "MUST_NOT_EXIST",
    "SCHEMA_VERSION",
    "BadStoreUrl",
    "CodecError",
    "Compacted",
    "Conflict",
    "Entry",
    "Event",
    "EventKind",
    "Listing",
    "MemoryStore",
    "SchemaMismatch",
    "Snapshot",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreOptions",
    "StoreUnavailable",
    "Stored",
    "decode",
    "encode",
    "ensure_schema",
    "load",
    "load_all",
    "open_store",
    "parse_store_url",
    "save",
]
