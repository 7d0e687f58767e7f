"""Opening a store from a URL, the one string operators put in configuration.

``etcd://HOST:PORT`` (port 2379 when left out) is production; ``memory://`` is a fresh
in-process store for tests and demos. Opening also runs the schema check, so a scheduler that
must not touch the data stops at start-up rather than at its first write.

The etcd adapter is imported only when an etcd URL is opened: a process that only ever uses
``memory://`` (unit tests) then never loads gRPC or registers etcd's protobuf messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from scheduler.store.base import Store
from scheduler.store.errors import BadStoreUrl
from scheduler.store.memory import MemoryStore
from scheduler.store.schema import DEFAULT_NAMESPACE, ensure_schema, root_prefix

DEFAULT_ETCD_PORT = 2379
_FORMS = "use etcd://HOST:PORT or memory://"


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """How to open a store: the namespace its root lives under and the per-call deadline."""

    namespace: str = DEFAULT_NAMESPACE
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class StoreUrl:
    scheme: Literal["etcd", "memory"]
    host: str = ""
    port: int = 0


def parse_store_url(url: str) -> StoreUrl:
    """Split a store URL, rejecting anything this build cannot open with a message saying why."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BadStoreUrl(f"cannot parse store URL {url!r} ({error}); {_FORMS}") from None
    if parts.scheme == "memory":
        if parts.netloc or parts.path or parts.query:
            raise BadStoreUrl(f"memory store URLs take no address: {url!r}; write memory://")
        return StoreUrl("memory")
    if parts.scheme != "etcd":
        shown = parts.scheme or "(none)"
        raise BadStoreUrl(f"unsupported store URL scheme {shown!r} in {url!r}; {_FORMS}")
    if not parts.hostname:
        raise BadStoreUrl(f"etcd store URL {url!r} has no host; {_FORMS}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise BadStoreUrl(
            f"etcd store URL {url!r} takes only a host and port; set the namespace in the "
            "store options instead"
        )
    return StoreUrl("etcd", parts.hostname, port if port is not None else DEFAULT_ETCD_PORT)


async def open_store(url: str, options: StoreOptions = StoreOptions()) -> Store:
    """Open the store at `url` and check its schema; raise `StoreUnavailable` if unreachable."""
    parsed = parse_store_url(url)
    store: Store
    if parsed.scheme == "memory":
        store = MemoryStore()
    else:
        from scheduler.store.etcd_store import EtcdStore  # see the module docstring

        root = root_prefix(options.namespace)
        store = EtcdStore(parsed.host, parsed.port, root=root, timeout_s=options.timeout_s)
    try:
        await ensure_schema(store)
    except BaseException:
        await store.close()
        raise
    return store
