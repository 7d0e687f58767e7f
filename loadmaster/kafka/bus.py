"""The seam between pipeline code and Kafka: a `Bus` makes producers, consumers and an admin.

`aiokafka_bus.AiokafkaBus` is the real one; `memory_bus.MemoryBus` is the fake unit tests use.
Both keep these semantics, which the pipeline code relies on:

* `Producer.send` returns once the broker acknowledged the record (acks per `KafkaConfig`), so a
  caller that commits its input after `send` returns never loses a record (at-least-once).
* A `GroupConsumer` is one member of a consumer group: partitions are shared among the members
  subscribed under the same group id. Nothing is committed automatically; `commit` stores the
  offsets given (the offset of the NEXT record to read, as Kafka does). A new group starts at
  the earliest offset, so records written before the first member joined are not skipped.
* A `TailConsumer` belongs to no group: it reads every partition of its topics, starting at
  the end as of `assign` (or at the beginning with `from_beginning`). `assign` returns once
  the start positions are fixed, so a record produced after it returns is seen.
* Records of one key go to one partition (Kafka's default partitioner), so all records of one
  request land on the same partition number of every topic with the same partition count.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int  # when the producer made it (CreateTime)

    @property
    def position(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def header(self, name: str) -> bytes | None:
        """The last value of header `name`, or None."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found

    def text(self, name: str) -> str:
        """Header `name` as text; empty when absent."""
        value = self.header(name)
        return value.decode("utf-8", "replace") if value is not None else ""


class BusError(Exception):
    """The broker refused or could not be reached; the message says which and why."""


class Producer(Protocol):
    async def start(self) -> None: ...

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        """Returns when the broker acknowledged the record; raises BusError if it cannot."""
        ...

    async def stop(self) -> None: ...


class GroupConsumer(Protocol):
    async def start(self) -> None: ...

    async def subscribe(self, topics: Collection[str]) -> None:
        """Replace the subscription (the group rebalances); an empty set unsubscribes."""
        ...

    async def fetch(self, max_records: int, timeout_ms: int) -> list[Record]:
        """Up to `max_records` records, waiting at most `timeout_ms` for the first one."""
        ...

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Store `offsets` (next offset to read) for the group; partitions this member no
        longer owns are skipped (the new owner reads them again: at-least-once)."""
        ...

    def assigned(self) -> frozenset[TopicPartition]:
        """The partitions this member owns now."""
        ...

    def lag(self) -> dict[TopicPartition, int]:
        """Records not yet fetched, per owned partition, as of the last fetch (for metrics)."""
        ...

    async def stop(self) -> None: ...


class TailConsumer(Protocol):
    async def start(self) -> None: ...

    async def assign(self, topics: Collection[str], *, from_beginning: bool = False) -> None:
        """Read every partition of `topics` (replacing the previous set); newly added topics
        start at their end (or beginning), topics kept keep their positions."""
        ...

    async def fetch(self, max_records: int, timeout_ms: int) -> list[Record]: ...

    async def end_reached(self) -> bool:
        """True when every assigned partition has been read up to its end (for scans)."""
        ...

    async def stop(self) -> None: ...


class Admin(Protocol):
    async def start(self) -> None: ...

    async def create_topics(
        self, names: Collection[str], partitions: int, replication: int
    ) -> None:
        """Create the topics that do not exist; existing ones are left as they are."""
        ...

    async def delete_topics(self, names: Collection[str]) -> None:
        """Delete the topics that exist; missing ones are ignored."""
        ...

    async def list_topics(self) -> frozenset[str]: ...

    async def stop(self) -> None: ...


class Bus(Protocol):
    def producer(self, client_id: str) -> Producer: ...

    def group_consumer(self, group: str, client_id: str) -> GroupConsumer: ...

    def tail_consumer(self, client_id: str) -> TailConsumer: ...

    def admin(self, client_id: str) -> Admin: ...
