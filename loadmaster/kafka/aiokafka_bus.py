"""AiokafkaBus: the `Bus` seam over a real Kafka; the only module that imports aiokafka.

Why one wrapper: pipeline code keeps the semantics `bus` documents (acknowledged sends, group
members that commit by hand, tail readers that start at the end) whatever the client library
does, and `MemoryBus` can stand in for it in unit tests. The wrapper also fixes what aiokafka
leaves loose:

* every client setting comes from `KafkaConfig`, none from library defaults; producers are
  never idempotent (Tansu, the local broker, refuses InitProducerId);
* nothing waits forever: `start` and admin calls are bounded by `request_timeout_ms`, and a
  fetch returns within its own timeout even while a group rebalances (aiokafka's `getmany`
  waits for the new assignment past its timeout, and forever when nothing is subscribed);
* failures surface as `BusError` naming the bootstrap address, so a log line says which broker
  could not be reached; a commit refused by a rebalance is logged, not raised (at-least-once:
  the partition's new owner reads those records again).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Collection, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    NoBrokersAvailable,
    for_code,
)
from aiokafka.structs import TopicPartition as KafkaPartition

from loadmaster.kafka.bus import BusError, Headers, Record, TopicPartition
from loadmaster.kafka.config import KafkaConfig
from loadmaster.logs import get_logger

log = get_logger("loadmaster.kafka")

T = TypeVar("T")
UNKNOWN_TOPIC_OR_PARTITION = 3
TOPIC_ALREADY_EXISTS = 36
FETCH_GRACE_S = 0.05  # past a fetch's own timeout: a rebalance holds getmany this long at most
NEW_TOPIC_CHECK_S = 0.5  # a tail consumer looks for topics that did not exist at assign


class AiokafkaBus:
    """Makes aiokafka clients for one broker (cluster) and one `KafkaConfig`."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config

    def producer(self, client_id: str) -> AiokafkaProducer:
        return AiokafkaProducer(self.config, client_id)

    def group_consumer(self, group: str, client_id: str) -> AiokafkaGroupConsumer:
        return AiokafkaGroupConsumer(self.config, group, client_id)

    def tail_consumer(self, client_id: str) -> AiokafkaTailConsumer:
        return AiokafkaTailConsumer(self.config, client_id)

    def admin(self, client_id: str) -> AiokafkaAdmin:
        return AiokafkaAdmin(self.config, client_id)


# ---- shared helpers ---------------------------------------------------------------------


@contextlib.contextmanager
def _as_bus_errors(config: KafkaConfig, doing: str) -> Iterator[None]:
    """Turn aiokafka's and the network's exceptions into BusError naming the broker."""
    try:
        yield
    except BusError:
        raise
    except (KafkaConnectionError, NoBrokersAvailable, OSError) as exc:  # TimeoutError included
        raise BusError(f"cannot reach Kafka at {config.bootstrap}: {doing}: {_say(exc)}") from exc
    except KafkaError as exc:
        raise BusError(f"Kafka at {config.bootstrap}: {doing} failed: {_say(exc)}") from exc


def _say(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _bounded(config: KafkaConfig, doing: str, step: Awaitable[T]) -> T:
    """Await `step` within request_timeout_ms; BusError when it fails or takes longer."""
    with _as_bus_errors(config, doing):
        async with asyncio.timeout(config.request_timeout_ms / 1000):
            return await step


async def _start(config: KafkaConfig, what: str, client: Any, closer: str = "stop") -> None:
    """Start an aiokafka client within request_timeout_ms; close it again when that fails."""
    try:
        await _bounded(config, f"starting the {what}", client.start())
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(getattr(client, closer)(), 5)
        raise


async def _stop(what: str, client: Any, closer: str = "stop") -> None:
    try:
        await asyncio.wait_for(getattr(client, closer)(), 10)
    except (KafkaError, OSError) as exc:  # stopping never fails the caller
        log.warning("kafka client did not stop cleanly", client=what, error=_say(exc))


def _ours(tp: Any) -> TopicPartition:
    return TopicPartition(tp.topic, tp.partition)


def _theirs(tp: TopicPartition) -> KafkaPartition:
    return KafkaPartition(tp.topic, tp.partition)


def _record(message: Any) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value if message.value is not None else b"",
        headers=tuple((k, bytes(v) if v is not None else b"") for k, v in message.headers),
        timestamp_ms=message.timestamp,
    )


async def _get_many(
    config: KafkaConfig, consumer: Any, max_records: int, timeout_ms: int
) -> dict[Any, list[Any]]:
    """`getmany`, returning {} when a rebalance would hold it past `timeout_ms`."""
    with _as_bus_errors(config, "fetching"):
        try:
            async with asyncio.timeout(timeout_ms / 1000 + FETCH_GRACE_S):
                batches: dict[Any, list[Any]] = await consumer.getmany(
                    timeout_ms=timeout_ms, max_records=max(1, max_records)
                )
                return batches
        except TimeoutError:
            return {}


def _consumer_settings(config: KafkaConfig, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": config.bootstrap,
        "client_id": client_id,
        "enable_auto_commit": False,
        "fetch_max_wait_ms": config.fetch_max_wait_ms,
        "fetch_min_bytes": config.fetch_min_bytes,
        "max_poll_records": config.max_poll_records,
        "request_timeout_ms": config.request_timeout_ms,
        "metadata_max_age_ms": config.metadata_max_age_ms,
    }


class _Held:
    """One aiokafka client, started once and stopped once; `_started()` or a BusError."""

    _closer = "stop"  # the client's closing coroutine: AIOKafkaAdminClient calls it close

    def __init__(self, config: KafkaConfig, client_id: str) -> None:
        self._config = config
        self._client_id = client_id
        self._client: Any = None

    @property
    def _what(self) -> str:
        raise NotImplementedError

    def _make(self) -> Any:
        raise NotImplementedError

    def _forget(self) -> None:
        """Drop what the client knew (positions, subscriptions) when it stops."""

    async def start(self) -> None:
        if self._client is not None:
            return
        client = self._make()
        await _start(self._config, self._what, client, closer=self._closer)
        self._client = client

    def _started(self) -> Any:
        if self._client is None:
            raise BusError(f"the {self._what} is not started")
        return self._client

    async def stop(self) -> None:
        client, self._client = self._client, None
        self._forget()
        if client is not None:
            await _stop(self._what, client, closer=self._closer)


# ---- producer -----------------------------------------------------------------------------


class AiokafkaProducer(_Held):
    """Sends one record at a time and returns when the broker acknowledged it."""

    _what = "producer"

    def _make(self) -> Any:
        return AIOKafkaProducer(
            bootstrap_servers=self._config.bootstrap,
            client_id=self._client_id,
            acks=self._config.acks_value,
            linger_ms=self._config.linger_ms,
            enable_idempotence=False,
            request_timeout_ms=self._config.request_timeout_ms,
            metadata_max_age_ms=self._config.metadata_max_age_ms,
        )

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        client = self._started()
        with _as_bus_errors(self._config, f"sending to {topic}"):
            await client.send_and_wait(topic, value, key=key, headers=list(headers))


# ---- group consumer -----------------------------------------------------------------------


class _ForgetRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """Drops what a member knew about partitions it no longer owns (their new owner reads
    them from the group's committed offsets)."""

    def __init__(self, fetched: dict[TopicPartition, int], group: str) -> None:
        self._fetched = fetched
        self._group = group

    def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        for tp in revoked:
            self._fetched.pop(_ours(tp), None)

    def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        owned = sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)
        log.debug("partitions assigned", group=self._group, partitions=owned)


class AiokafkaGroupConsumer(_Held):
    """One member of a consumer group; commits only when told to, and only what it owns."""

    def __init__(self, config: KafkaConfig, group: str, client_id: str) -> None:
        super().__init__(config, client_id)
        self._group = group
        self._topics: frozenset[str] = frozenset()
        self._fetched: dict[TopicPartition, int] = {}  # next offset, per owned partition

    @property
    def _what(self) -> str:
        return f"consumer of group {self._group}"

    def _make(self) -> Any:
        return AIOKafkaConsumer(
            group_id=self._group,
            auto_offset_reset="earliest",
            session_timeout_ms=self._config.session_timeout_ms,
            heartbeat_interval_ms=self._config.heartbeat_interval_ms,
            **_consumer_settings(self._config, self._client_id),
        )

    async def subscribe(self, topics: Collection[str]) -> None:
        client = self._started()
        wanted = frozenset(topics)
        if wanted == self._topics:
            return
        with _as_bus_errors(self._config, f"subscribing group {self._group}"):
            if wanted:
                client.subscribe(
                    sorted(wanted), listener=_ForgetRevoked(self._fetched, self._group)
                )
            else:
                client.unsubscribe()
                self._fetched.clear()
        self._topics = wanted

    async def fetch(self, max_records: int, timeout_ms: int) -> list[Record]:
        client = self._started()
        if not self._topics:  # getmany would wait for an assignment that never comes
            await asyncio.sleep(timeout_ms / 1000)
            return []
        batches = await _get_many(self._config, client, max_records, timeout_ms)
        out: list[Record] = []
        for messages in batches.values():
            out += (_record(m) for m in messages)
        for record in out:
            self._fetched[record.position] = record.offset + 1
        await self._learn_positions(client)
        return out

    async def _learn_positions(self, client: Any) -> None:
        """Note the position of owned partitions that were fetched from but gave no record
        yet (for `lag`); aiokafka answers at once for those, the bound is a safeguard."""
        for tp in client.assignment():
            if tp not in client.assignment():  # a rebalance happened during an await
                continue
            if _ours(tp) in self._fetched or client.highwater(tp) is None:
                continue
            with contextlib.suppress(TimeoutError, KafkaError):
                async with asyncio.timeout(FETCH_GRACE_S):
                    self._fetched[_ours(tp)] = await client.position(tp)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        client = self._started()
        owned = client.assignment()
        mine = {_theirs(tp): at for tp, at in offsets.items() if _theirs(tp) in owned}
        if not mine:
            return
        try:
            await _bounded(self._config, f"committing for group {self._group}", client.commit(mine))
        except BusError as exc:
            if not isinstance(exc.__cause__, CommitFailedError | IllegalStateError):
                raise
            log.info(
                "commit skipped: the group rebalanced",
                group=self._group,
                reason=_say(exc.__cause__),
            )

    def assigned(self) -> frozenset[TopicPartition]:
        if self._client is None:
            return frozenset()
        return frozenset(_ours(tp) for tp in self._client.assignment())

    def lag(self) -> dict[TopicPartition, int]:
        """Highwater minus the next offset to fetch, for owned partitions that have both."""
        if self._client is None:
            return {}
        out: dict[TopicPartition, int] = {}
        for tp in self._client.assignment():
            highwater = self._client.highwater(tp)
            at = self._fetched.get(_ours(tp))
            if highwater is not None and at is not None:
                out[_ours(tp)] = max(0, highwater - at)
        return out

    def _forget(self) -> None:
        self._topics = frozenset()
        self._fetched.clear()


# ---- tail consumer ------------------------------------------------------------------------


class AiokafkaTailConsumer(_Held):
    """Reads every partition of its topics, no group; positions are fixed by explicit seeks.

    A topic that does not exist at `assign` is looked for again while fetching and read from
    its beginning once it appears (nothing written to it is missed)."""

    _what = "tail consumer"

    def __init__(self, config: KafkaConfig, client_id: str) -> None:
        super().__init__(config, client_id)
        self._topics: frozenset[str] = frozenset()
        self._positions: dict[TopicPartition, int] = {}  # next offset to read
        self._missing: frozenset[str] = frozenset()  # assigned topics with no partitions yet
        self._next_check = 0.0

    def _make(self) -> Any:
        return AIOKafkaConsumer(
            group_id=None,
            auto_offset_reset="latest",
            **_consumer_settings(self._config, self._client_id),
        )

    async def assign(self, topics: Collection[str], *, from_beginning: bool = False) -> None:
        wanted = frozenset(topics)
        partitions = await self._partitions(wanted)
        kept = {tp: at for tp, at in self._positions.items() if tp.topic in wanted}
        await self._place(partitions, kept, wanted - self._topics, from_beginning)

    async def _partitions(self, topics: Collection[str]) -> dict[str, set[int]]:
        """The partition ids of each topic, from fresh metadata (empty: no such topic)."""
        client = self._started()
        cluster = await _bounded(
            self._config, "reading topic metadata", client._client.fetch_all_metadata()
        )
        return {t: set(cluster.partitions_for_topic(t) or ()) for t in topics}

    async def _place(
        self,
        partitions: dict[str, set[int]],
        kept: dict[TopicPartition, int],
        new_topics: Collection[str],
        from_beginning: bool,
    ) -> None:
        """Assign every partition in `partitions`: kept ones at their positions, those of
        `new_topics` at the end (or beginning), any other (appeared since) at 0."""
        client = self._started()
        every = [TopicPartition(t, p) for t in sorted(partitions) for p in sorted(partitions[t])]
        fresh = [tp for tp in every if tp not in kept and tp.topic in new_topics]
        starts = {tp: 0 for tp in every if tp not in kept and tp.topic not in new_topics}
        if fresh:
            finder = client.beginning_offsets if from_beginning else client.end_offsets
            found = await _bounded(
                self._config, "reading offsets", finder([_theirs(tp) for tp in fresh])
            )
            starts |= {_ours(tp): at for tp, at in found.items()}
        positions = {tp: kept.get(tp, starts.get(tp, 0)) for tp in every}
        with _as_bus_errors(self._config, "assigning partitions"):
            client.assign([_theirs(tp) for tp in every])
            for tp, at in positions.items():
                client.seek(_theirs(tp), at)
        self._topics = frozenset(partitions)
        self._positions = positions
        self._missing = frozenset(t for t, ids in partitions.items() if not ids)
        self._next_check = time.monotonic() + NEW_TOPIC_CHECK_S

    async def _look_for_missing_topics(self) -> None:
        """Assign the partitions of topics that appeared since `assign` (read from 0)."""
        if not self._missing or time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + NEW_TOPIC_CHECK_S
        partitions = await self._partitions(self._topics)
        if any(partitions[t] for t in self._missing):
            await self._place(partitions, dict(self._positions), (), False)

    async def fetch(self, max_records: int, timeout_ms: int) -> list[Record]:
        client = self._started()
        await self._look_for_missing_topics()
        if not self._positions:
            await asyncio.sleep(timeout_ms / 1000)
            return []
        batches = await _get_many(self._config, client, max_records, timeout_ms)
        out: list[Record] = []
        for messages in batches.values():
            out += (_record(m) for m in messages)
        for record in out:
            self._positions[record.position] = record.offset + 1
        return out

    async def end_reached(self) -> bool:
        client = self._started()
        if not self._positions:
            return True
        ends = await _bounded(
            self._config,
            "reading end offsets",
            client.end_offsets([_theirs(tp) for tp in self._positions]),
        )
        return all(self._positions.get(_ours(tp), 0) >= at for tp, at in ends.items())

    def _forget(self) -> None:
        self._topics, self._positions, self._missing = frozenset(), {}, frozenset()


# ---- admin --------------------------------------------------------------------------------


class AiokafkaAdmin(_Held):
    """Creates and deletes topics idempotently: 'already exists' and 'unknown topic' answers
    are what the caller asked for, any other error code is a BusError with the broker's word."""

    _what = "admin client"
    _closer = "close"

    def _make(self) -> Any:
        return AIOKafkaAdminClient(
            bootstrap_servers=self._config.bootstrap,
            client_id=self._client_id,
            request_timeout_ms=self._config.request_timeout_ms,
            metadata_max_age_ms=self._config.metadata_max_age_ms,
        )

    async def create_topics(
        self, names: Collection[str], partitions: int, replication: int
    ) -> None:
        client = self._started()
        if not names:
            return
        new = [NewTopic(n, partitions, replication) for n in sorted(set(names))]
        answer = await _bounded(self._config, "creating topics", client.create_topics(new))
        refused = refusals(answer.to_object()["topic_errors"], TOPIC_ALREADY_EXISTS)
        if refused:
            raise BusError(f"Kafka at {self._config.bootstrap} refused to create {refused}")

    async def delete_topics(self, names: Collection[str]) -> None:
        client = self._started()
        if not names:
            return
        doomed = sorted(set(names))
        answer = await _bounded(self._config, "deleting topics", client.delete_topics(doomed))
        refused = refusals(answer.to_object()["topic_error_codes"], UNKNOWN_TOPIC_OR_PARTITION)
        if refused:
            raise BusError(f"Kafka at {self._config.bootstrap} refused to delete {refused}")

    async def list_topics(self) -> frozenset[str]:
        names = await _bounded(self._config, "listing topics", self._started().list_topics())
        return frozenset(names)


def refusals(results: Iterable[Mapping[str, Any]], fine: int) -> str:
    """The per-topic errors of a CreateTopics/DeleteTopics answer, for people; '' when every
    topic succeeded or answered the `fine` code (e.g. 'already exists' to a create)."""
    return "; ".join(
        f"{r['topic']}: {for_code(r['error_code']).__name__} ({r['error_code']})"
        + (f": {r['error_message']}" if r.get("error_message") else "")
        for r in results
        if r["error_code"] not in (0, fine)
    )
