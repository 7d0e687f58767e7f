"""Where the scheduler's data lives in the store, and the guard against foreign schemas.

All keys sit under one root, ``<namespace>v<SCHEMA_VERSION>/`` (``/loadmaster/v1/`` by default),
so one etcd can hold several clusters (distinct namespaces) and a future incompatible layout can
live beside this one. Inside the root, the ``schema`` key records which schema wrote the data.

Why a marker as well as the versioned root: a newer scheduler that migrates the data to
``v2/`` writes 2 into the old root's marker. A rolled-back scheduler then refuses to start
instead of acting on state that is no longer maintained. A marker this build does not match,
newer or older, stops it with a message saying what to do; an absent marker means a fresh
store, which this build claims with a must-not-exist write so two first starts cannot race.
"""

from __future__ import annotations

import json

from scheduler.store.base import MUST_NOT_EXIST, Store
from scheduler.store.errors import Conflict, SchemaMismatch, StoreError

SCHEMA_VERSION = 1
SCHEMA_KEY = "schema"
SCHEMA_KIND = "Schema"
DEFAULT_NAMESPACE = "/loadmaster/"
_CLAIM_ATTEMPTS = 3


def root_prefix(namespace: str = DEFAULT_NAMESPACE, version: int = SCHEMA_VERSION) -> str:
    """The absolute key prefix the store adapter puts in front of every relative key."""
    if not (namespace.startswith("/") and namespace.endswith("/")):
        raise ValueError(f"a store namespace starts and ends with '/', got {namespace!r}")
    return f"{namespace}v{version}/"


def encode_marker(version: int) -> bytes:
    return json.dumps({"kind": SCHEMA_KIND, "version": version}).encode()


def decode_marker(raw: bytes) -> int | None:
    """The schema version in a marker, or None when the marker is not one we can read."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("kind") != SCHEMA_KIND:
        return None
    version = data.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


async def ensure_schema(store: Store, supported: int = SCHEMA_VERSION) -> int:
    """Claim a fresh store for `supported`, or check that the store already speaks it."""
    entry = await store.get(SCHEMA_KEY)
    for _ in range(_CLAIM_ATTEMPTS):
        if entry is not None:
            break
        try:
            await store.put(SCHEMA_KEY, encode_marker(supported), MUST_NOT_EXIST)
            return supported
        except Conflict as lost:  # another scheduler claimed it first: check what it wrote
            entry = lost.current
    if entry is None:  # claimed and deleted again, repeatedly: someone is fighting over it
        raise StoreError(f"could not claim the schema marker at {store.address}; retry later")
    found = decode_marker(entry.value)
    where = f"{store.address} (key {SCHEMA_KEY!r})"
    if found is None:
        raise SchemaMismatch(
            f"the schema marker at {where} is unreadable: {entry.value[:80]!r}; refusing to start"
        )
    if found > supported:
        raise SchemaMismatch(
            f"the store at {where} holds schema {found}, newer than schema {supported} that this "
            "scheduler understands; upgrade the scheduler (or point it at another namespace)"
        )
    if found < supported:
        raise SchemaMismatch(
            f"the store at {where} holds schema {found}, older than schema {supported} that "
            "this scheduler writes, and this build has no migration from it; refusing to start"
        )
    return found
