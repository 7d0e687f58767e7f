"""PipelineFront on a MemoryBus: what is produced, what comes back, and every refusal."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import orjson
import pytest

from gateway.pipeline.outcomes import NEED_KAFKA, PipelineAnswer, PipelineError
from loadmaster.kafka.bus import BusError
from loadmaster.kafka.records import ErrorRecord, envelope_of
from tests.gateway.fakes import WAIT_S, until
from tests.gateway.pipeline.front_rig import (
    INSTANCE,
    WALL_CLOCK_S,
    DownBus,
    FrontRig,
    entry,
    make_front_rig,
)
from tests.gateway.pipeline.manual_sleep import ManualSleep

BODY = orjson.dumps(
    {"id": "q-1", "inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2]}]}
)
UUID4_HEX = re.compile(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}")


@pytest.fixture
async def rig() -> AsyncIterator[FrontRig]:
    async with make_front_rig() as made:
        await made.servable()
        yield made


async def infer(
    rig: FrontRig,
    name: str = "chain",
    body: bytes = BODY,
    timeout_ms: int | None = None,
    client: str = "c-1",
) -> PipelineAnswer:
    async with asyncio.timeout(WAIT_S):
        return await rig.front.infer(
            name, body, None, timeout_ms=timeout_ms, client_request_id=client
        )


async def refused(rig: FrontRig, **kwargs: object) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        await infer(rig, **kwargs)  # type: ignore[arg-type]
    return info.value


async def test_a_request_is_produced_with_its_envelope_and_answered(rig: FrontRig) -> None:
    answer = await infer(rig, timeout_ms=1500)
    assert orjson.loads(answer.body)["outputs"][0]["data"] == [1.0, 2.0]
    assert answer.header_length is None
    [record] = rig.inputs()
    assert record.value == BODY  # the client's bytes, untouched
    env = envelope_of(record)
    assert UUID4_HEX.fullmatch(env.request) and record.key == env.request.encode()
    assert answer.request_id == env.request
    assert (env.pipeline, env.pipeline_version, env.gateway) == ("chain", 3, INSTANCE)
    assert env.client_request == "c-1"
    assert env.deadline_ms == int(WALL_CLOCK_S * 1000) + 1500
    code = {"pipeline": "chain"}
    assert rig.sample("loadmaster_gateway_pipeline_produce_seconds_count", **code) == 1


async def test_every_request_gets_its_own_id_whatever_the_client_sent(rig: FrontRig) -> None:
    first = await infer(rig, client="same")
    second = await infer(rig, client="same")
    assert first.request_id != second.request_id
    assert "same" not in (first.request_id, second.request_id)


async def test_the_topics_are_made_before_the_pipeline_is_served(rig: FrontRig) -> None:
    for topic in rig.topics.of_pipeline("chain", ["m1", "m2"]):
        assert topic in rig.bus.topics


async def test_the_default_timeout_caps_a_longer_client_deadline() -> None:
    async with make_front_rig(default_timeout_s=0.05) as rig:
        await rig.servable()
        rig.fake.silent = True
        failure = await refused(rig, timeout_ms=60_000)
        assert failure.status == 504
        assert failure.message == (
            f"pipeline 'chain': no answer within 50 ms (request id {failure.request_id})"
        )
        assert envelope_of(rig.inputs()[0]).deadline_ms == int(WALL_CLOCK_S * 1000) + 50
        assert rig.front.waiting == 0


async def test_a_short_client_deadline_ends_the_wait(rig: FrontRig) -> None:
    rig.fake.silent = True
    failure = await refused(rig, timeout_ms=20)
    assert failure.status == 504 and "no answer within 20 ms" in failure.message
    assert failure.request_id == envelope_of(rig.inputs()[0]).request


async def test_a_failing_step_is_named_with_its_model_and_message(rig: FrontRig) -> None:
    rig.fake.error = ErrorRecord("chain", "second", "m2", 500, "division by zero")
    failure = await refused(rig)
    assert failure.status == 500
    assert failure.message == "pipeline 'chain' step 'second' (model 'm2'): division by zero"
    assert failure.fields() == {
        "error": failure.message,
        "pipeline": "chain",
        "step": "second",
        "model": "m2",
    }


async def test_a_failure_that_is_no_steps_names_only_the_pipeline(rig: FrontRig) -> None:
    rig.fake.error = ErrorRecord("chain", "", "", 400, "output join window of 5 ms expired")
    failure = await refused(rig)
    assert failure.status == 400
    assert failure.message == "pipeline 'chain': output join window of 5 ms expired"
    assert failure.fields() == {"error": failure.message, "pipeline": "chain"}


async def test_a_duplicate_answer_is_ignored_and_counted(rig: FrontRig) -> None:
    rig.fake.copies = 2
    answer = await infer(rig)
    assert orjson.loads(answer.body)["model_name"] == "chain"  # the first, not the "later" one
    await until(lambda: rig.ignored("duplicate") == 1)


async def test_an_answer_for_another_gateway_is_not_taken(rig: FrontRig) -> None:
    rig.fake.other_gateway_first = True
    answer = await infer(rig)
    assert b"not" not in answer.body and b"outputs" in answer.body


async def test_a_client_that_leaves_is_forgotten(rig: FrontRig) -> None:
    rig.fake.silent = True
    task = asyncio.create_task(infer(rig))
    await until(lambda: rig.front.waiting == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.front.waiting == 0
    record = rig.inputs()[0]
    rig.fake.silent = False
    for topic, value, env in rig.fake.answers(record):
        await rig.bus.producer("late").send(topic, value, key=record.key, headers=env.headers())
    await until(lambda: rig.ignored("late") == 1)


async def test_a_body_that_is_not_an_inference_request_never_reaches_kafka(rig: FrontRig) -> None:
    failure = await refused(rig, body=b"{not json")
    assert failure.status == 400 and "JSON" in failure.message
    failure = await refused(rig, body=b'{"inputs": "x"}')
    assert failure.status == 400
    assert rig.inputs() == []


async def test_unknown_and_not_ready_pipelines_are_refused() -> None:
    waiting = entry("slow", "PipelineWaiting", "waiting for models: m2 (ModelProgressing)")
    async with make_front_rig(pipelines=(entry(), waiting)) as rig:
        await rig.servable()
        failure = await refused(rig, name="nope")
        assert (failure.status, failure.message) == (404, "pipeline 'nope' not found")
        failure = await refused(rig, name="slow")
        assert failure.status == 503
        assert failure.message == (
            "pipeline 'slow' is not ready: PipelineWaiting: waiting for models: m2 "
            "(ModelProgressing)"
        )
        status = rig.front.status("slow")
        assert status is not None and not status.ready and status.version == 3
        assert rig.front.status("nope") is None


async def test_without_kafka_every_pipeline_request_says_how_to_turn_it_on() -> None:
    async with make_front_rig(kafka=False) as rig:
        failure = await refused(rig)
        assert (failure.status, failure.message) == (503, NEED_KAFKA)
        status = rig.front.status("chain")
        assert status is not None and not status.ready and status.error == NEED_KAFKA


async def test_an_unreachable_broker_is_a_503_until_it_comes_up() -> None:
    bus = DownBus()
    sleep = ManualSleep()
    async with make_front_rig(bus=bus, sleep=sleep) as rig:
        await until(lambda: len(sleep.delays) == 1)
        failure = await refused(rig)
        assert failure.status == 503
        assert failure.message.startswith("pipeline 'chain' is starting: Kafka at ")
        assert "unreachable: connection refused" in failure.message
        bus.down = False
        sleep.wake()
        await rig.servable()
        assert (await infer(rig)).body


async def test_the_bus_says_why_it_cannot_connect_in_its_own_words() -> None:
    bus = DownBus(BusError("cannot reach Kafka at k:9092: no route to host"))
    sleep = ManualSleep()
    async with make_front_rig(bus=bus, sleep=sleep) as rig:
        await until(lambda: len(sleep.delays) == 1)
        failure = await refused(rig)
        assert failure.message == (
            "pipeline 'chain' is starting: cannot reach Kafka at k:9092: no route to host"
        )


async def test_a_send_the_broker_refuses_is_a_503_with_its_reason(rig: FrontRig) -> None:
    del rig.bus.topics[rig.topics.pipeline_inputs("chain")]
    failure = await refused(rig)
    assert failure.status == 503
    assert failure.message.startswith("pipeline 'chain': the request could not be sent to Kafka")
    assert "does not exist" in failure.message


async def test_a_pipeline_that_leaves_the_table_is_not_served(rig: FrontRig) -> None:
    rig.front.set_pipelines({})
    assert (await refused(rig)).status == 404
    rig.front.set_pipelines({"chain": entry()})
    await rig.servable()
    assert (await infer(rig)).body


def test_the_default_timeout_must_be_positive() -> None:
    from prometheus_client import CollectorRegistry

    from gateway.pipeline.front import PipelineFront
    from gateway.pipeline.front_metrics import PipelineMetrics

    with pytest.raises(ValueError, match="positive"):
        PipelineFront(
            None, None, PipelineMetrics(CollectorRegistry()), instance="g", default_timeout_s=0
        )
