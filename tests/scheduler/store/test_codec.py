"""Records round-trip exactly through the JSON codec, and stored data from other versions reads
as the compatibility rule says (unknown fields ignored with a warning, missing ones defaulted)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum
from typing import Any, ClassVar, Optional

import pytest

from scheduler.store import CodecError, codec, decode, encode


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Priority(IntEnum):
    LOW = 1
    HIGH = 2


class Shape(Enum):
    ROUND = "round"


@dataclass(frozen=True)
class Resources:
    memory_bytes: int
    gpu: bool = False


@dataclass(frozen=True)
class Sample:
    RECORD_KIND: ClassVar[str] = "Sample"
    RECORD_VERSION: ClassVar[int] = 3

    name: str
    colour: Colour
    priority: Priority
    shape: Shape
    weight: float
    blob: bytes
    resources: Resources
    tags: frozenset[str]
    ports: tuple[int, ...]
    pair: tuple[str, int]
    history: tuple[Resources, ...]
    colours: frozenset[Colour]
    labels: dict[str, str]
    by_colour: dict[Colour, int]
    by_priority: dict[Priority, str]
    by_id: dict[int, Resources]
    parent: Resources | None
    note: Optional[str]  # noqa: UP045 - the typing spelling must work too
    params: dict[str, Any]
    items: list[str] = field(default_factory=list)
    added_later: int = 7


FULL = Sample(
    name="iris",
    colour=Colour.BLUE,
    priority=Priority.HIGH,
    shape=Shape.ROUND,
    weight=0.1,
    blob=b"\x00\xffbytes",
    resources=Resources(200 * 2**20, gpu=True),
    tags=frozenset({"torch", "cpu", "fast"}),
    ports=(9000, 9500),
    pair=("a", 1),
    history=(Resources(1), Resources(2, gpu=True)),
    colours=frozenset({Colour.RED, Colour.BLUE}),
    labels={"team": "ml", "ünïcode": "✓"},
    by_colour={Colour.RED: 1, Colour.BLUE: 2},
    by_priority={Priority.LOW: "l"},
    by_id={3: Resources(3), 10: Resources(10)},
    parent=Resources(5),
    note="hello",
    params={"max_batch_size": 32, "nested": {"list": [1, 2.5, None, True]}},
    items=["x", "y"],
    added_later=8,
)
SPARSE = Sample(
    name="",
    colour=Colour.RED,
    priority=Priority.LOW,
    shape=Shape.ROUND,
    weight=-3.0,
    blob=b"",
    resources=Resources(0),
    tags=frozenset(),
    ports=(),
    pair=("", 0),
    history=(),
    colours=frozenset(),
    labels={},
    by_colour={},
    by_priority={},
    by_id={},
    parent=None,
    note=None,
    params={},
)


@pytest.mark.parametrize("record", [FULL, SPARSE], ids=["full", "sparse"])
def test_round_trip_is_exact(record: Sample) -> None:
    back = decode(encode(record), Sample)
    assert back == record
    assert type(back.colour) is Colour and type(back.priority) is Priority
    assert type(back.tags) is frozenset and type(back.colours) is frozenset
    assert type(back.ports) is tuple and type(back.history) is tuple and type(back.items) is list
    assert all(type(k) is Colour for k in back.by_colour)
    assert all(type(k) is Priority for k in back.by_priority)
    assert all(type(k) is int for k in back.by_id)
    assert type(back.weight) is float


def test_envelope_and_bytes_are_deterministic() -> None:
    raw = encode(FULL)
    envelope = json.loads(raw)
    assert (envelope["kind"], envelope["version"]) == ("Sample", 3)
    assert envelope["data"]["colour"] == "blue" and envelope["data"]["priority"] == 2
    reordered = Sample(
        **{
            **FULL.__dict__,
            "tags": frozenset(sorted(FULL.tags, reverse=True)),
            "labels": dict(reversed(list(FULL.labels.items()))),
        }
    )
    assert encode(reordered) == raw


def test_unknown_fields_are_ignored_with_one_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codec, "_warned", set())  # forget warnings other tests caused
    envelope = json.loads(encode(FULL))
    envelope["version"] = 4
    envelope["data"]["from_the_future"] = {"anything": 1}
    envelope["data"]["resources"]["future_nested"] = True
    raw = json.dumps(envelope).encode()
    with caplog.at_level(logging.WARNING, logger="scheduler.store.codec"):
        assert decode(raw, Sample) == FULL
        assert decode(raw, Sample) == FULL
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2, warned  # once per (kind, field), not once per read
    assert any("'from_the_future'" in m and "Sample" in m for m in warned)
    assert any("'future_nested'" in m and "Resources" in m for m in warned)


def test_fields_missing_from_an_older_record_take_their_defaults() -> None:
    envelope = json.loads(encode(FULL))
    del envelope["data"]["added_later"], envelope["data"]["items"]
    back = decode(json.dumps(envelope).encode(), Sample)
    assert back.added_later == 7 and back.items == []


def corrupt(path: list[str], value: object) -> bytes:
    envelope = json.loads(encode(FULL))
    target = envelope["data"]
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"{not json", "not JSON"),
        (b'{"kind": "Sample"}', "envelope"),
        (encode(Resources(1)), "expected a Sample record, found 'Resources'"),
        (corrupt(["name"], KeyError), "missing required field 'name'"),
        (corrupt(["resources", "memory_bytes"], "1"), r"Sample\.resources\.memory_bytes"),
        (corrupt(["resources", "gpu"], 1), "expected bool"),
        (corrupt(["priority"], True), "not a known Priority"),
        (corrupt(["colour"], "green"), "'green' is not a known Colour"),
        (corrupt(["by_colour"], {"green": 1}), "not a known Colour"),
        (corrupt(["by_id"], {"x": {"memory_bytes": 1}}), "not an int"),
        (corrupt(["pair"], ["a", 1, 2]), "expected 2 elements"),
        (corrupt(["ports"], {"0": 1}), "expected a JSON list"),
        (corrupt(["blob"], "!!"), "not base64"),
    ],
)
def test_data_that_does_not_fit_is_a_codec_error(raw: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode(raw, Sample)


@dataclass
class Mutable:
    x: int


@dataclass(frozen=True)
class BadUnion:
    x: int | str


@dataclass(frozen=True)
class BadKey:
    x: dict[tuple[int, int], int]


@dataclass(frozen=True)
class Holder:
    ports: tuple[int, ...]
    count: int
    ratio: float = 0.5


@pytest.mark.parametrize(
    "record,message",
    [
        (Mutable(1), "only frozen dataclass records"),
        ("not a record", "only frozen dataclass records"),
        (BadUnion(1), r"only `X \| None` unions"),
        (BadKey({(1, 2): 3}), "dict keys must be"),
        (Holder([1, 2], 1), "expected tuple"),  # type: ignore[arg-type]
        (Holder((1,), True), "expected <class 'int'>"),
        (Holder((1,), 1, float("nan")), "not representable as JSON"),
    ],
)
def test_records_that_would_not_round_trip_are_refused(record: object, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        encode(record)


def test_an_int_in_a_float_field_reads_back_as_float() -> None:
    back = decode(encode(Holder((), 1, 2)), Holder)
    assert back == Holder((), 1, 2.0) and type(back.ratio) is float
