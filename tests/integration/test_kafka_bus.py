"""AiokafkaBus against a real broker: the semantics `loadmaster.kafka.bus` promises hold.

These are the promises pipeline code builds on (acknowledged sends, tail readers that see what
follows `assign`, groups that share partitions and resume after their commits, one key to one
partition number), shown on the wire rather than in `MemoryBus`. Every test uses topics and
groups with fresh names, so tests sharing the broker (or a real Kafka) never see each other.

Waiting loops poll the broker with a generous bound; they never assert on time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from loadmaster.kafka.aiokafka_bus import TOPIC_ALREADY_EXISTS, AiokafkaBus, refusals
from loadmaster.kafka.bus import (
    Admin,
    BusError,
    GroupConsumer,
    Producer,
    Record,
    TailConsumer,
    TopicPartition,
)
from loadmaster.kafka.config import KafkaConfig
from tests.etcd_server import free_port
from tests.kafka_server import BOOTSTRAP_ENV, unique_name

pytestmark = pytest.mark.integration

PARTITIONS = 4
BOUND_S = 30.0  # how long a poll may take before the test fails (a bound, not a measure)


def config_for(bootstrap: str) -> KafkaConfig:
    # Tansu answers a group join after about half the session timeout; Apache Kafka refuses
    # session timeouts under its group.min.session.timeout.ms (6 s by default).
    shared = bool(os.environ.get(BOOTSTRAP_ENV))
    return KafkaConfig(
        bootstrap=bootstrap,
        partitions=PARTITIONS,
        session_timeout_ms=6_000 if shared else 2_000,
        heartbeat_interval_ms=300,
        request_timeout_ms=10_000,
        fetch_max_wait_ms=1,
    )


@pytest.fixture
def bus(kafka_bootstrap: str) -> AiokafkaBus:
    return AiokafkaBus(config_for(kafka_bootstrap))


@pytest.fixture
async def admin(bus: AiokafkaBus) -> AsyncIterator[Admin]:
    client = bus.admin("test-admin")
    await client.start()
    yield client
    await client.stop()


@pytest.fixture
async def producer(bus: AiokafkaBus) -> AsyncIterator[Producer]:
    client = bus.producer("test-producer")
    await client.start()
    yield client
    await client.stop()


async def new_topics(admin: Admin, count: int = 1) -> list[str]:
    names = [unique_name("topic") for _ in range(count)]
    await admin.create_topics(names, PARTITIONS, 1)
    return names


async def until(probe: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        if await probe():
            return
    raise AssertionError(f"gave up after {BOUND_S}s waiting for {what}")


async def read(consumer: GroupConsumer | TailConsumer, count: int) -> list[Record]:
    """Fetch until `count` records came (failing past the bound), then a little more to show
    that no extra record follows."""
    got: list[Record] = []

    async def more() -> bool:
        got.extend(await consumer.fetch(100, 100))
        return len(got) >= count

    await until(more, f"{count} records (have {len(got)})")
    got.extend(await consumer.fetch(100, 200))
    return got


async def joined(consumer: GroupConsumer) -> None:
    async def owns() -> bool:
        await consumer.fetch(100, 50)  # drives the join; nothing was produced yet
        return bool(consumer.assigned())

    await until(owns, "the group assignment")


# ---- admin ----------------------------------------------------------------------------------


async def test_create_is_idempotent_list_shows_and_delete_ignores_missing(admin: Admin) -> None:
    names = [unique_name("admin"), unique_name("admin")]
    await admin.create_topics(names, PARTITIONS, 1)
    await admin.create_topics(names, PARTITIONS, 1)  # exists already: no error
    assert set(names) <= await admin.list_topics()

    await admin.delete_topics([names[0], unique_name("never-made")])

    async def gone() -> bool:
        return names[0] not in await admin.list_topics()

    await until(gone, "the deleted topic to leave the list")
    assert names[1] in await admin.list_topics()
    await admin.delete_topics([names[1]])


def test_refusals_name_each_topic_with_the_brokers_error_and_skip_the_fine_code() -> None:
    # Tansu accepts any create, so the broker-refusal path is shown on a made-up answer.
    answer = [
        {"topic": "a", "error_code": 0, "error_message": None},
        {"topic": "b", "error_code": TOPIC_ALREADY_EXISTS, "error_message": "exists"},
        {"topic": "c", "error_code": 37, "error_message": "Number of partitions must be > 0"},
        {"topic": "d", "error_code": 41},
    ]
    assert refusals(answer, TOPIC_ALREADY_EXISTS) == (
        "c: InvalidPartitionsError (37): Number of partitions must be > 0; "
        "d: NotControllerError (41)"
    )
    assert refusals(answer[:2], TOPIC_ALREADY_EXISTS) == ""


# ---- tail consumer --------------------------------------------------------------------------


async def test_tail_sees_what_follows_assign_with_key_headers_and_timestamp(
    bus: AiokafkaBus, admin: Admin, producer: Producer
) -> None:
    (topic,) = await new_topics(admin)
    await producer.send(topic, b"before", key=b"r0")
    tail = bus.tail_consumer("test-tail")
    await tail.start()
    try:
        await tail.assign([topic])
        sent_at = int(time.time() * 1000)
        headers = [("lm-request", b"r1"), ("lm-kind", b"data"), ("lm-request", b"r1-again")]
        await producer.send(topic, b"after", key=b"r1", headers=headers)
        got = await read(tail, 1)
    finally:
        await tail.stop()
    assert [r.value for r in got] == [b"after"]  # "before" preceded assign: not seen
    (record,) = got
    assert record.key == b"r1"
    assert record.headers == tuple(headers)
    assert record.header("lm-request") == b"r1-again"
    assert record.text("lm-kind") == "data"
    assert record.topic == topic and 0 <= record.partition < PARTITIONS
    assert abs(record.timestamp_ms - sent_at) < 60_000  # a real CreateTime, not 0 or -1


async def test_tail_from_beginning_reads_earlier_records_then_reaches_the_end(
    bus: AiokafkaBus, admin: Admin, producer: Producer
) -> None:
    (topic,) = await new_topics(admin)
    for i in range(6):
        await producer.send(topic, f"v{i}".encode(), key=f"k{i}".encode())
    tail = bus.tail_consumer("test-scan")
    await tail.start()
    try:
        await tail.assign([topic], from_beginning=True)
        assert not await tail.end_reached()
        got = await read(tail, 6)
        assert await tail.end_reached()
        await producer.send(topic, b"later", key=b"k9")
        assert not await tail.end_reached()
    finally:
        await tail.stop()
    assert sorted(r.value for r in got) == [f"v{i}".encode() for i in range(6)]


async def test_tail_keeps_positions_of_kept_topics_and_finds_topics_made_later(
    bus: AiokafkaBus, admin: Admin, producer: Producer
) -> None:
    first, second = await new_topics(admin, 2)
    later = unique_name("later")
    tail = bus.tail_consumer("test-reassign")
    await tail.start()
    try:
        await tail.assign([first])
        await producer.send(first, b"a1", key=b"k")
        await tail.assign([first, second, later])  # a1 not fetched yet: its position is kept
        await producer.send(second, b"b1", key=b"k")
        await admin.create_topics([later], PARTITIONS, 1)
        await producer.send(later, b"c1", key=b"k")  # made after assign: read from its start
        got = await read(tail, 3)
    finally:
        await tail.stop()
    assert sorted(r.value for r in got) == [b"a1", b"b1", b"c1"]


# ---- group consumer -------------------------------------------------------------------------


async def test_a_new_group_starts_at_the_earliest_record(
    bus: AiokafkaBus, admin: Admin, producer: Producer
) -> None:
    (topic,) = await new_topics(admin)
    for i in range(5):
        await producer.send(topic, f"v{i}".encode(), key=f"k{i}".encode())
    member = bus.group_consumer(unique_name("group"), "test-member")
    await member.start()
    try:
        await member.subscribe([topic])
        got = await read(member, 5)
    finally:
        await member.stop()
    assert sorted(r.value for r in got) == [f"v{i}".encode() for i in range(5)]


async def test_a_later_member_resumes_after_the_groups_commit(
    bus: AiokafkaBus, admin: Admin, producer: Producer
) -> None:
    (topic,) = await new_topics(admin)
    group = unique_name("group")
    for i in range(4):
        await producer.send(topic, f"old{i}".encode(), key=f"k{i}".encode())
    first = bus.group_consumer(group, "test-first")
    await first.start()
    try:
        await first.subscribe([topic])
        seen = await read(first, 4)
        await first.commit({r.position: r.offset + 1 for r in seen})
    finally:
        await first.stop()
    for i in range(3):
        await producer.send(topic, f"new{i}".encode(), key=f"k{i}".encode())
    second = bus.group_consumer(group, "test-second")
    await second.start()
    try:
        await second.subscribe([topic])
        got = await read(second, 3)
    finally:
        await second.stop()
    assert sorted(r.value for r in got) == [b"new0", b"new1", b"new2"]


async def test_members_of_one_group_share_the_partitions(
    bus: AiokafkaBus, admin: Admin, producer: Producer
) -> None:
    (topic,) = await new_topics(admin)
    group = unique_name("group")
    one, two = bus.group_consumer(group, "test-one"), bus.group_consumer(group, "test-two")
    for member in (one, two):
        await member.start()
        await member.subscribe([topic])
    try:

        async def balanced() -> bool:
            await asyncio.gather(one.fetch(100, 50), two.fetch(100, 50))
            mine, theirs = one.assigned(), two.assigned()
            return len(mine) + len(theirs) == PARTITIONS and bool(mine) and bool(theirs)

        await until(balanced, "both members to own partitions")
        owned = {"one": one.assigned(), "two": two.assigned()}
        assert not owned["one"] & owned["two"]
        values = [f"v{i}".encode() for i in range(40)]
        for i, value in enumerate(values):
            await producer.send(topic, value, key=f"key-{i}".encode())
        got: dict[str, list[Record]] = {"one": [], "two": []}

        async def all_read() -> bool:
            a, b = await asyncio.gather(one.fetch(100, 50), two.fetch(100, 50))
            got["one"] += a
            got["two"] += b
            return len(got["one"]) + len(got["two"]) >= len(values)

        await until(all_read, "every record to be read by one member")
        await asyncio.gather(one.fetch(100, 200), two.fetch(100, 200))  # nothing more
    finally:
        await asyncio.gather(one.stop(), two.stop())
    read_values = [r.value for r in got["one"] + got["two"]]
    assert sorted(read_values) == sorted(values)  # each exactly once
    assert got["one"] and got["two"]
    assert all(r.position in owned[who] for who in got for r in got[who])


async def test_commit_skips_partitions_the_member_does_not_own(
    bus: AiokafkaBus, admin: Admin, producer: Producer
) -> None:
    (topic,) = await new_topics(admin)
    (other,) = await new_topics(admin)
    member = bus.group_consumer(unique_name("group"), "test-commit")
    await member.start()
    try:
        await member.subscribe([topic])
        await joined(member)
        await member.commit({TopicPartition(other, 0): 5, TopicPartition(topic, 0): 0})
    finally:
        await member.stop()


async def test_one_key_lands_on_the_same_partition_number_of_every_topic(
    bus: AiokafkaBus, admin: Admin, producer: Producer
) -> None:
    first, second = await new_topics(admin, 2)
    tail = bus.tail_consumer("test-keys")
    await tail.start()
    try:
        await tail.assign([first, second])
        keys = [f"request-{i}".encode() for i in range(12)]
        for key in keys:
            await producer.send(first, b"in", key=key)
            await producer.send(second, b"out", key=key)
        got = await read(tail, 2 * len(keys))
    finally:
        await tail.stop()
    where: dict[tuple[bytes | None, str], int] = {(r.key, r.topic): r.partition for r in got}
    assert len(where) == 2 * len(keys)
    assert all(where[(key, first)] == where[(key, second)] for key in keys)
    assert len({where[(key, first)] for key in keys}) > 1  # keys do spread over partitions


async def test_lag_counts_records_not_yet_fetched(
    bus: AiokafkaBus, admin: Admin, producer: Producer
) -> None:
    (topic,) = await new_topics(admin)
    for i in range(20):
        await producer.send(topic, f"v{i}".encode(), key=b"one-key")  # one partition
    member = bus.group_consumer(unique_name("group"), "test-lag")
    await member.start()
    try:
        await member.subscribe([topic])
        first: list[Record] = []

        async def some() -> bool:
            first.extend(await member.fetch(5, 100))
            return bool(first)

        await until(some, "a first batch")
        (partition,) = {r.position for r in first}
        assert member.lag().get(partition) == 20 - len(first)
        rest = await read(member, 20 - len(first))
        assert len(first) + len(rest) == 20
        lag = member.lag()
        assert set(lag) == member.assigned()  # idle partitions too, once fetched from
        assert set(lag.values()) == {0}
    finally:
        await member.stop()


# ---- an unreachable broker ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["producer", "group", "tail", "admin"])
async def test_start_against_a_closed_port_fails_with_a_bus_error(kind: str) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    bus = AiokafkaBus(KafkaConfig(bootstrap=bootstrap, request_timeout_ms=3_000))
    clients: dict[str, Producer | GroupConsumer | TailConsumer | Admin] = {
        "producer": bus.producer("p"),
        "group": bus.group_consumer("g", "c"),
        "tail": bus.tail_consumer("t"),
        "admin": bus.admin("a"),
    }
    client = clients[kind]
    async with asyncio.timeout(20):  # a hang fails here instead of at the suite's timeout
        with pytest.raises(BusError, match=f"cannot reach Kafka at {bootstrap}"):
            await client.start()
        await client.stop()
