"""Typed reads and writes: records come back with the revision that guards the next save."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import pytest

from scheduler.store import Conflict, MemoryStore, load, load_all, save
from scheduler.store.keys import model_key, model_version_key, parse_model_key


class Phase(StrEnum):
    PROGRESSING = "ModelProgressing"
    AVAILABLE = "ModelAvailable"


@dataclass(frozen=True)
class ModelDoc:
    name: str
    version: int
    phase: Phase


async def test_load_returns_the_record_and_its_revision() -> None:
    store = MemoryStore()
    assert await load(store, model_key("iris"), ModelDoc) is None
    doc = ModelDoc("iris", 1, Phase.PROGRESSING)
    revision = await save(store, model_key("iris"), doc)
    loaded = await load(store, model_key("iris"), ModelDoc)
    assert loaded is not None and (loaded.value, loaded.revision) == (doc, revision)


async def test_saving_at_a_loaded_revision_detects_a_concurrent_writer() -> None:
    store = MemoryStore()
    await save(store, model_key("iris"), ModelDoc("iris", 1, Phase.PROGRESSING))
    mine = await load(store, model_key("iris"), ModelDoc)
    theirs = await load(store, model_key("iris"), ModelDoc)
    assert mine is not None and theirs is not None
    await save(store, mine.key, replace(mine.value, phase=Phase.AVAILABLE), mine.revision)
    with pytest.raises(Conflict):
        await save(store, theirs.key, replace(theirs.value, version=2), theirs.revision)
    final = await load(store, model_key("iris"), ModelDoc)
    assert final is not None and final.value == ModelDoc("iris", 1, Phase.AVAILABLE)


async def test_load_all_filters_keys_and_reports_the_listing_revision() -> None:
    store = MemoryStore()
    for name in ("b", "a"):
        await save(store, model_key(name), ModelDoc(name, 1, Phase.AVAILABLE))
    last = await store.put(model_version_key("a", 1), b"a version spec, not a ModelDoc")
    listing = await load_all(store, "models/", ModelDoc, where=lambda k: bool(parse_model_key(k)))
    assert [item.value.name for item in listing.items] == ["a", "b"]
    assert listing.revision == last
