"""The etcd adapter: the one module that imports an etcd client (aetcd, asyncio, etcd v3).

Why etcd: a put is acknowledged only after the member has written it to its write-ahead log
and raft has committed it, which gives the "durable before acknowledged" promise the scheduler's
kill -9 recovery rests on. Compare-and-swap maps onto an etcd transaction that compares the
key's mod revision (create revision 0 for "must not exist") and, when the comparison fails,
reads the current entry in the same transaction, so `Conflict` reports what won the race.

Client errors are translated at this seam: unreachable or timed-out calls become
`StoreUnavailable` naming the address, compacted history becomes `Compacted`, anything else a
`StoreError`. Retrying is the caller's policy (the reconcile loop backs off), not the adapter's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import Any

import aetcd

from scheduler.store.base import (
    MUST_NOT_EXIST,
    Entry,
    Event,
    EventKind,
    Snapshot,
    Store,
    check_key,
    check_prefix,
)
from scheduler.store.errors import Compacted, Conflict, StoreClosed, StoreError, StoreUnavailable

_GRPC_OPTIONS = {
    # Listing every replica of a large fleet exceeds gRPC's default 4 MiB reply limit.
    "grpc.max_receive_message_length": 256 * 1024 * 1024,
    # gRPC's default reconnect back-off grows to two minutes; a scheduler should see its etcd
    # come back within seconds of a restart.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 2000,
}
_UNAVAILABLE = (
    aetcd.ConnectionFailedError,
    aetcd.ConnectionTimeoutError,
    aetcd.WatchTimeoutError,
    TimeoutError,
)


class EtcdStore(Store):
    """Keys relative to `root` (``/loadmaster/v1/``) in the etcd at `host`:`port`."""

    def __init__(self, host: str, port: int, *, root: str, timeout_s: float = 5.0) -> None:
        if not (root.startswith("/") and root.endswith("/")):
            raise ValueError(f"an etcd root starts and ends with '/', got {root!r}")
        self._root = root
        target_host = f"[{host}]" if ":" in host else host  # aetcd joins host:port verbatim
        self._address = f"etcd://{target_host}:{port}"
        self._client: Any = aetcd.Client(
            host=target_host, port=port, timeout=timeout_s, options=dict(_GRPC_OPTIONS)
        )
        self._closed = False

    @property
    def address(self) -> str:
        return self._address

    @property
    def root(self) -> str:
        return self._root

    async def get(self, key: str) -> Entry | None:
        self._check_open()
        with self._translate("get"):
            found = await self._client.get(self._full(check_key(key)))
        return None if found is None else self._entry(found)

    async def snapshot(self, prefix: str = "") -> Snapshot:
        self._check_open()
        with self._translate("list"):
            found = await self._client.get_prefix(self._full(check_prefix(prefix)))
        entries = sorted((self._entry(kv) for kv in found), key=lambda e: e.key)
        return Snapshot(tuple(entries), int(found.header.revision))

    async def put(self, key: str, value: bytes, expect_revision: int | None = None) -> int:
        self._check_open()
        full = self._full(check_key(key))
        if expect_revision is None:
            with self._translate("put"):
                done = await self._client.put(full, bytes(value))
            return int(done.header.revision)
        txn = self._client.transactions
        compare = (
            txn.create(full) == 0
            if expect_revision == MUST_NOT_EXIST
            else txn.mod(full) == expect_revision
        )
        with self._translate("put"):
            ok, replies = await self._client.transaction(
                compare=[compare], success=[txn.put(full, bytes(value))], failure=[txn.get(full)]
            )
        if not ok:
            raise Conflict(key, expect_revision, self._first(replies[0]))
        return int(replies[0].response_put.header.revision)

    async def delete(self, key: str, expect_revision: int | None = None) -> bool:
        self._check_open()
        full = self._full(check_key(key))
        if expect_revision is None:
            with self._translate("delete"):
                done = await self._client.delete(full)
            return done is not None
        txn = self._client.transactions
        with self._translate("delete"):
            ok, replies = await self._client.transaction(
                compare=[txn.mod(full) == expect_revision],  # an absent key compares as 0
                success=[txn.delete(full)],
                failure=[txn.get(full)],
            )
        if not ok:
            raise Conflict(key, expect_revision, self._first(replies[0]))
        return int(replies[0].response_delete_range.deleted) > 0

    async def watch(
        self, prefix: str = "", start_revision: int | None = None
    ) -> AsyncGenerator[Event, None]:
        self._check_open()
        with self._translate("watch"):
            stream = await self._client.watch_prefix(
                self._full(check_prefix(prefix)), start_revision=start_revision or None
            )
        try:
            with self._translate("watch"):
                async for change in stream:
                    kind = EventKind.PUT if change.kind == "PUT" else EventKind.DELETE
                    yield Event(
                        kind,
                        self._relative(change.kv.key),
                        bytes(change.kv.value) if kind is EventKind.PUT else b"",
                        int(change.kv.mod_revision),
                    )
        finally:
            if not self._closed:  # after close() the client has already dropped its watches
                await stream.cancel()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"the store for {self._address} is closed")

    def _full(self, key: str) -> bytes:
        return (self._root + key).encode()

    def _relative(self, key: bytes) -> str:
        return key.decode().removeprefix(self._root)

    def _entry(self, kv: Any) -> Entry:
        return Entry(
            self._relative(kv.key),
            bytes(kv.value),
            int(kv.mod_revision),
            int(kv.create_revision),
        )

    def _first(self, range_reply: Any) -> Entry | None:
        """The entry a transaction's get returned: aetcd gives a list of (value, kv) pairs."""
        return self._entry(range_reply[0][1]) if range_reply else None

    @contextmanager
    def _translate(self, operation: str) -> Iterator[None]:
        try:
            yield
        except aetcd.RevisionCompactedError as error:
            raise Compacted(int(error.compacted_revision)) from error
        except _UNAVAILABLE as error:
            raise StoreUnavailable(self._address, f"{operation}: {_describe(error)}") from error
        except aetcd.ClientError as error:
            raise StoreError(
                f"etcd at {self._address}: {operation} failed: {_describe(error)}"
            ) from error


def _describe(error: BaseException) -> str:
    """Some client errors carry no text; their type name still says what happened."""
    return str(error) or type(error).__name__
