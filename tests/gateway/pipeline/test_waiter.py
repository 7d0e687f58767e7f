"""The Waiter: answers on the output and errors topics resolve the request that waits for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import CollectorRegistry

from gateway.pipeline.front_metrics import PipelineMetrics
from gateway.pipeline.waiter import Reply, Waiter
from loadmaster.kafka.bus import BusError, Record
from loadmaster.kafka.memory_bus import MemoryBus, MemoryTailConsumer
from loadmaster.kafka.records import Envelope, ErrorRecord, Kind
from loadmaster.kafka.topics import Topics
from tests.gateway.fakes import WAIT_S, until
from tests.gateway.pipeline.manual_sleep import ManualSleep

TOPICS = Topics("lm", "t")
ME = "gw-1"


def envelope(
    rid: str,
    gateway: str = ME,
    *,
    pipeline: str = "p",
    kind: Kind = Kind.DATA,
    step: str = "",
    header_length: int | None = None,
    reason: str = "",
) -> Envelope:
    return Envelope(
        request=rid,
        pipeline=pipeline,
        deadline_ms=2**62,
        gateway=gateway,
        step=step,
        kind=kind,
        header_length=header_length,
        reason=reason,
    )


class Rig:
    def __init__(self, bus: MemoryBus, waiter: Waiter, registry: CollectorRegistry) -> None:
        self.bus = bus
        self.waiter = waiter
        self.registry = registry

    async def answer(self, env: Envelope, value: bytes = b"{}", topic: str = "") -> None:
        topic = topic or TOPICS.pipeline_outputs(env.pipeline)
        await self.bus.producer("w").send(
            topic, value, key=env.request.encode(), headers=env.headers()
        )

    def ignored(self, reason: str) -> float:
        name = "loadmaster_gateway_pipeline_answers_ignored_total"
        return self.registry.get_sample_value(name, {"reason": reason}) or 0.0


def make_bus() -> MemoryBus:
    bus = MemoryBus()
    for topic in (TOPICS.pipeline_outputs("p"), TOPICS.pipeline_outputs("q"), TOPICS.errors):
        bus.create(topic, 2)
    return bus


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    bus = make_bus()
    registry = CollectorRegistry()
    waiter = Waiter(bus.tail_consumer("w"), TOPICS, ME, PipelineMetrics(registry))
    await waiter.start()
    await waiter.watch(["p"])
    try:
        yield Rig(bus, waiter, registry)
    finally:
        await waiter.close()


async def test_an_answer_resolves_the_request_it_names(rig: Rig) -> None:
    first, second = rig.waiter.expect("r1"), rig.waiter.expect("r2")
    await rig.answer(envelope("r2", header_length=2), b"{}xy")
    async with asyncio.timeout(WAIT_S):
        assert await second == Reply(b"{}xy", 2)
    assert not first.done()
    assert rig.waiter.waiting == 1


async def test_an_error_record_resolves_as_the_error(rig: Rig) -> None:
    future = rig.waiter.expect("r1")
    record = ErrorRecord("p", "first", "m1", 500, "boom")
    env = envelope("r1", kind=Kind.ERROR, step="first")
    await rig.answer(env, record.to_json(), TOPICS.errors)
    async with asyncio.timeout(WAIT_S):
        assert await future == record


async def test_an_unreadable_error_record_still_ends_the_wait(rig: Rig) -> None:
    future = rig.waiter.expect("r1")
    await rig.answer(envelope("r1", kind=Kind.ERROR, step="s"), b"nonsense", TOPICS.errors)
    async with asyncio.timeout(WAIT_S):
        answer = await future
    assert isinstance(answer, ErrorRecord)
    assert answer.status == 500 and answer.step == "s"
    assert "unreadable error record" in answer.message


async def test_a_skipped_output_is_an_error_naming_the_reason(rig: Rig) -> None:
    future = rig.waiter.expect("r1")
    await rig.answer(envelope("r1", kind=Kind.SKIP, reason="trigger absent"), b"")
    async with asyncio.timeout(WAIT_S):
        answer = await future
    assert isinstance(answer, ErrorRecord)
    assert answer.status == 400 and "trigger absent" in answer.message


async def test_the_first_answer_wins_and_duplicates_are_counted(rig: Rig) -> None:
    future = rig.waiter.expect("r1")
    await rig.answer(envelope("r1"), b"first")
    await rig.answer(envelope("r1"), b"second")
    async with asyncio.timeout(WAIT_S):
        assert await future == Reply(b"first")
    await until(lambda: rig.ignored("duplicate") == 1)
    assert rig.ignored("late") == 0


async def test_answers_for_another_gateway_are_skipped(rig: Rig) -> None:
    future = rig.waiter.expect("r1")
    await rig.answer(envelope("r1", gateway="gw-2"), b"theirs")
    await rig.answer(envelope("r1"), b"mine")
    async with asyncio.timeout(WAIT_S):
        assert await future == Reply(b"mine")
    assert rig.ignored("duplicate") == rig.ignored("late") == 0


async def test_a_forgotten_request_counts_its_answer_late(rig: Rig) -> None:
    future = rig.waiter.expect("r1")
    rig.waiter.forget("r1")
    assert future.cancelled() and rig.waiter.waiting == 0
    await rig.answer(envelope("r1"))
    await until(lambda: rig.ignored("late") == 1)


async def test_records_without_pipeline_headers_are_counted_bad(rig: Rig) -> None:
    future = rig.waiter.expect("r1")
    await rig.bus.producer("x").send(TOPICS.pipeline_outputs("p"), b"?", key=b"r1")
    await rig.answer(envelope("r1"), b"ok")
    async with asyncio.timeout(WAIT_S):
        assert await future == Reply(b"ok")
    assert rig.ignored("bad") == 1


async def test_watch_starts_at_the_end_and_follows_the_pipelines_given(rig: Rig) -> None:
    old = rig.waiter.expect("old")
    await rig.answer(envelope("old", pipeline="q"), b"before")  # q not watched yet
    await rig.waiter.watch(["p", "q"])
    future = rig.waiter.expect("r1")
    await rig.answer(envelope("r1", pipeline="q"), b"q answers")
    async with asyncio.timeout(WAIT_S):
        assert await future == Reply(b"q answers")
    assert not old.done()  # written before q was watched: watching starts at the end


async def test_expecting_an_id_twice_is_refused(rig: Rig) -> None:
    rig.waiter.expect("r1")
    with pytest.raises(ValueError, match="already waited for"):
        rig.waiter.expect("r1")


class FlakyTail(MemoryTailConsumer):
    """Fetches fail while `failures` is above zero, as against a broker that went away."""

    def __init__(self, bus: MemoryBus, failures: int) -> None:
        super().__init__(bus)
        self.failures = failures

    async def fetch(self, max_records: int, timeout_ms: int) -> list[Record]:
        if self.failures:
            self.failures -= 1
            raise BusError("broker unreachable")
        return await super().fetch(max_records, timeout_ms)


def slept(sleep: ManualSleep, times: int) -> Callable[[], bool]:
    return lambda: len(sleep.delays) == times


async def test_a_failing_fetch_is_retried_with_growing_pauses() -> None:
    bus = make_bus()
    sleep = ManualSleep()
    consumer = FlakyTail(bus, failures=3)
    waiter = Waiter(consumer, TOPICS, ME, sleep=sleep)
    await waiter.start()
    await waiter.watch(["p"])
    try:
        future = waiter.expect("r1")
        await bus.producer("w").send(
            TOPICS.pipeline_outputs("p"),
            b"late but here",
            key=b"r1",
            headers=envelope("r1").headers(),
        )
        for count in (1, 2, 3):
            await until(slept(sleep, count))
            sleep.wake()
        async with asyncio.timeout(WAIT_S):
            assert await future == Reply(b"late but here")
        assert sleep.delays == [0.1, 0.2, 0.4]
    finally:
        await waiter.close()


async def test_close_cancels_whoever_still_waits() -> None:
    bus = make_bus()
    waiter = Waiter(bus.tail_consumer("w"), TOPICS, ME)
    await waiter.start()
    future = waiter.expect("r1")
    await waiter.close()
    assert future.cancelled() and waiter.waiting == 0
