"""MemoryBus: an in-process `Bus` with Kafka's semantics, for unit tests (no broker).

It keeps what the pipeline code relies on (see `bus`): keyed records go to a fixed partition,
group members share a topic's partitions and start from the group's committed offsets (or the
beginning), tail consumers start at the end, and sending to a topic that does not exist fails
as it does against a broker that does not auto-create topics. Partitions are dealt to group
members by index (partition p to member p mod n), so one member gets the same partition number
of every topic, as Kafka's range assignor does for topics of equal size.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Collection, Mapping

from loadmaster.kafka.bus import BusError, Headers, Record, TopicPartition


class MemoryBus:
    def __init__(self) -> None:
        self.topics: dict[str, list[list[Record]]] = {}
        self.committed: dict[str, dict[TopicPartition, int]] = {}  # by group
        self._members: dict[str, list[MemoryGroupConsumer]] = {}
        self._arrived = asyncio.Condition()
        self.sent = 0  # records written, for tests

    # ---- Bus ----------------------------------------------------------------------------

    def producer(self, client_id: str) -> MemoryProducer:
        return MemoryProducer(self)

    def group_consumer(self, group: str, client_id: str) -> MemoryGroupConsumer:
        return MemoryGroupConsumer(self, group)

    def tail_consumer(self, client_id: str) -> MemoryTailConsumer:
        return MemoryTailConsumer(self)

    def admin(self, client_id: str) -> MemoryAdmin:
        return MemoryAdmin(self)

    # ---- shared state -------------------------------------------------------------------

    def create(self, name: str, partitions: int) -> None:
        self.topics.setdefault(name, [[] for _ in range(partitions)])

    def records(self, topic: str) -> list[Record]:
        """Every record of `topic`, partition by partition (for assertions)."""
        return [r for part in self.topics.get(topic, []) for r in part]

    async def append(self, topic: str, value: bytes, key: bytes | None, headers: Headers) -> None:
        partitions = self.topics.get(topic)
        if partitions is None:
            raise BusError(f"topic {topic!r} does not exist")
        index = (
            zlib.crc32(key) % len(partitions) if key is not None else self.sent % len(partitions)
        )
        part = partitions[index]
        part.append(
            Record(
                topic=topic,
                partition=index,
                offset=len(part),
                key=key,
                value=value,
                headers=tuple(headers),
                timestamp_ms=int(time.time() * 1000),
            )
        )
        self.sent += 1
        async with self._arrived:
            self._arrived.notify_all()

    def end(self, tp: TopicPartition) -> int:
        partitions = self.topics.get(tp.topic)
        return len(partitions[tp.partition]) if partitions and tp.partition < len(partitions) else 0

    def partitions_of(self, topics: Collection[str]) -> list[TopicPartition]:
        return [
            TopicPartition(t, i) for t in sorted(topics) for i in range(len(self.topics.get(t, [])))
        ]

    async def wait_for_records(self, timeout_ms: int) -> None:
        async with self._arrived:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout_ms / 1000)

    def members(self, group: str) -> list[MemoryGroupConsumer]:
        return self._members.setdefault(group, [])


def _read(bus: MemoryBus, positions: dict[TopicPartition, int], max_records: int) -> list[Record]:
    out: list[Record] = []
    for tp, at in positions.items():
        partitions = bus.topics.get(tp.topic)
        if not partitions or tp.partition >= len(partitions):
            continue
        taken = partitions[tp.partition][at : at + max_records - len(out)]
        out += taken
        positions[tp] = at + len(taken)
        if len(out) >= max_records:
            break
    return out


class MemoryProducer:
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus

    async def start(self) -> None:
        return None

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        await self._bus.append(topic, value, key, headers)

    async def stop(self) -> None:
        return None


class MemoryGroupConsumer:
    def __init__(self, bus: MemoryBus, group: str) -> None:
        self._bus = bus
        self.group = group
        self.topics: frozenset[str] = frozenset()
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        return None

    async def subscribe(self, topics: Collection[str]) -> None:
        self.topics = frozenset(topics)
        members = self._bus.members(self.group)
        if self not in members:
            members.append(self)
        self._positions.clear()  # a rebalance: start again from the committed offsets

    def assigned(self) -> frozenset[TopicPartition]:
        members = [m for m in self._bus.members(self.group) if m.topics]
        if self not in members:
            return frozenset()
        me = members.index(self)
        return frozenset(
            tp for tp in self._bus.partitions_of(self.topics) if tp.partition % len(members) == me
        )

    def _sync_positions(self) -> None:
        committed = self._bus.committed.get(self.group, {})
        owned = self.assigned()
        self._positions = {tp: self._positions.get(tp, committed.get(tp, 0)) for tp in owned}

    async def fetch(self, max_records: int, timeout_ms: int) -> list[Record]:
        self._sync_positions()
        out = _read(self._bus, self._positions, max_records)
        if not out and timeout_ms > 0:
            await self._bus.wait_for_records(timeout_ms)
            self._sync_positions()
            out = _read(self._bus, self._positions, max_records)
        return out

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        owned = self.assigned()
        stored = self._bus.committed.setdefault(self.group, {})
        stored.update({tp: at for tp, at in offsets.items() if tp in owned})

    def lag(self) -> dict[TopicPartition, int]:
        return {tp: self._bus.end(tp) - at for tp, at in self._positions.items()}

    async def stop(self) -> None:
        """Leave the group: the others take over its partitions from the committed offsets."""
        members = self._bus.members(self.group)
        if self in members:
            members.remove(self)
        self.topics = frozenset()


class MemoryTailConsumer:
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._topics: frozenset[str] = frozenset()
        self._start_at_beginning: dict[str, bool] = {}
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        return None

    async def assign(self, topics: Collection[str], *, from_beginning: bool = False) -> None:
        for topic in set(topics) - self._topics:
            self._start_at_beginning[topic] = from_beginning
            for tp in self._bus.partitions_of([topic]):
                self._positions[tp] = 0 if from_beginning else self._bus.end(tp)
        self._topics = frozenset(topics)
        self._positions = {tp: at for tp, at in self._positions.items() if tp.topic in topics}

    def _add_new_partitions(self) -> None:
        for tp in self._bus.partitions_of(self._topics):
            self._positions.setdefault(tp, 0)

    async def fetch(self, max_records: int, timeout_ms: int) -> list[Record]:
        self._add_new_partitions()
        out = _read(self._bus, self._positions, max_records)
        if not out and timeout_ms > 0:
            await self._bus.wait_for_records(timeout_ms)
            out = _read(self._bus, self._positions, max_records)
        return out

    async def end_reached(self) -> bool:
        return all(self._bus.end(tp) <= at for tp, at in self._positions.items())

    async def stop(self) -> None:
        return None


class MemoryAdmin:
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus

    async def start(self) -> None:
        return None

    async def create_topics(
        self, names: Collection[str], partitions: int, replication: int
    ) -> None:
        for name in names:
            self._bus.create(name, partitions)

    async def delete_topics(self, names: Collection[str]) -> None:
        for name in names:
            self._bus.topics.pop(name, None)

    async def list_topics(self) -> frozenset[str]:
        return frozenset(self._bus.topics)

    async def stop(self) -> None:
        return None
