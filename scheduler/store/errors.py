"""What can go wrong talking to the store, as types the scheduler can act on.

Each error answers a different "what now?": a `Conflict` means re-read and decide again (someone
else wrote first), `StoreUnavailable` means back off and retry (etcd is down or unreachable),
`Compacted` means re-list because the history a watch wanted is gone, and `SchemaMismatch`
means stop: this scheduler build must not touch data it does not understand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.store.base import Entry


class StoreError(Exception):
    """Base of every store failure, so callers can catch the family in one place."""


class Conflict(StoreError):
    """A conditional write lost a race: the key's revision was not the one expected.

    It carries the entry as it is now (None when absent) so the loser can decide again without
    another round trip.
    """

    def __init__(self, key: str, expected: int, current: Entry | None) -> None:
        self.key = key
        self.expected = expected
        self.current = current
        wanted = "to be absent" if expected == 0 else f"at revision {expected}"
        found = "absent" if current is None else f"at revision {current.revision}"
        super().__init__(f"conflict on {key!r}: expected it {wanted}, but it is {found}")


class StoreUnavailable(StoreError):
    """The store cannot be reached; the address is in the message so operators know which."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"store at {address} is unavailable: {reason}")


class Compacted(StoreError):
    """A watch asked for history older than the store keeps; re-list, then watch from there."""

    def __init__(self, compact_revision: int) -> None:
        self.compact_revision = compact_revision
        super().__init__(
            f"revisions before {compact_revision} were compacted; list again and watch from the "
            "listing's revision"
        )


class SchemaMismatch(StoreError):
    """The data under the store's root was written by a schema this build does not speak."""


class BadStoreUrl(StoreError, ValueError):
    """A store URL this build cannot open (unknown scheme, missing host, bad port)."""


class StoreClosed(StoreError):
    """An operation on a store after `close()`: a bug in the caller's lifecycle."""
