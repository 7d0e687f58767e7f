"""How a scheduler record is stored: JSON in a kind/version envelope.

Why JSON in an envelope: etcd values are opaque bytes and operators read them with etcdctl, so
they should stay readable. Each value is ``{"data": {...}, "kind": ..., "version": ...}`` so a
reader knows what it holds, and which record version wrote it, before trusting any field. The
bytes are deterministic (sorted keys and set members): an unchanged record re-encodes to the
same bytes. Field conversion lives in `scheduler.store.jsontypes`.

Compatibility rule, relied on by rolling upgrades: a record version only *adds* fields, and
added fields have defaults. An older scheduler reading a newer record ignores the fields it does
not know and logs one warning per kind and field (so operators learn a newer writer exists
without a warning per read); a newer scheduler reading an older record fills missing fields
with their defaults. Renames and type changes are not record versions: they need a new store
schema (`scheduler.store.schema`). An enum value this build does not know is an error, never a
guess, because acting on a state it does not understand is worse than stopping.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TypeVar

from scheduler.store.jsontypes import CodecError, from_json, to_json

__all__ = ["CodecError", "decode", "encode", "kind_of", "version_of"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_warned: set[tuple[str, str]] = set()


def kind_of(cls: type) -> str:
    """The envelope kind: a class's ``RECORD_KIND`` ClassVar, else its name."""
    return str(getattr(cls, "RECORD_KIND", cls.__name__))


def version_of(cls: type) -> int:
    """The record version a class writes: its ``RECORD_VERSION`` ClassVar, else 1."""
    return int(getattr(cls, "RECORD_VERSION", 1))


def encode(record: object) -> bytes:
    """A frozen dataclass record as enveloped JSON bytes; `CodecError` if it cannot be."""
    cls = type(record)
    params = getattr(cls, "__dataclass_params__", None)
    if not dataclasses.is_dataclass(cls) or params is None or not params.frozen:
        raise CodecError(f"only frozen dataclass records are stored, got {cls.__name__}")
    data = to_json(record, cls, kind_of(cls))
    envelope = {"kind": kind_of(cls), "version": version_of(cls), "data": data}
    try:
        text = json.dumps(envelope, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise CodecError(f"{kind_of(cls)} is not representable as JSON: {error}") from None
    return text.encode()


def decode(raw: bytes, cls: type[T]) -> T:
    """A `cls` record from stored bytes; `CodecError` says what does not fit and where."""
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CodecError(f"stored value is not JSON: {error}") from None
    if not isinstance(envelope, dict) or not {"kind", "version", "data"} <= envelope.keys():
        raise CodecError("stored value lacks the kind/version/data envelope")
    if envelope["kind"] != kind_of(cls):
        raise CodecError(f"expected a {kind_of(cls)} record, found {envelope['kind']!r}")
    value: T = from_json(envelope["data"], cls, kind_of(cls), _warn_unknown)
    return value


def _warn_unknown(cls: type, field: str) -> None:
    if (kind_of(cls), field) in _warned:
        return
    _warned.add((kind_of(cls), field))
    log.warning(
        "ignoring unknown field %r in a stored %s record (written by a newer version?)",
        field,
        kind_of(cls),
    )
