"""The model worker on a MemoryBus: answers, failures, drops, de-duplication, commits."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.pipeline.model_call import GatewayUnreachable, ModelAnswer
from gateway.pipeline.model_worker import ModelWorker
from gateway.pipeline.worker_io import wall_ms
from gateway.pipeline.worker_metrics import WorkerMetrics
from loadmaster.kafka.memory_bus import MemoryBus
from loadmaster.kafka.records import Kind
from tests.gateway.fakes import start_app, until
from tests.gateway.pipeline.model_worker_rig import (
    CONFIG,
    GATEWAY,
    TOPICS,
    Call,
    GatedBus,
    Rig,
    entry,
)


async def started_rig(rig: Rig | None = None, *models: str) -> Rig:
    rig = rig or Rig()
    rig.create(*(models or ("m",)))
    rig.worker.set_pipelines({"chain": entry()})
    return rig


async def test_an_answer_goes_to_the_model_outputs_with_the_same_envelope() -> None:
    rig = await started_rig()
    env = rig.envelope(header_length=12, client_request="client-7", pipeline_version=3)
    async with rig.running():
        await rig.send("m", b"request-body", env)
        await until(lambda: bool(rig.outputs("m")) and rig.committed() == 1)
    [(out, body)] = rig.outputs("m")
    assert body == b"answer:request-body"
    assert out == dataclasses.replace(env, header_length=7, kind=Kind.DATA)
    [call] = rig.call.calls
    assert call == Call("m", b"request-body", 12, 60_000, "r1")
    assert rig.errors() == []
    assert rig.outcomes("done") == 1
    assert rig.registry.get_sample_value(
        "loadmaster_pipeline_step_seconds_count", {"pipeline": "chain", "step": "first"}
    )
    produced = rig.registry.get_sample_value(
        "loadmaster_pipeline_produce_seconds_count", {"topic": TOPICS.model_outputs("m")}
    )
    assert produced == 1


async def test_a_json_answer_has_no_header_length() -> None:
    rig = await started_rig()
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope())
        await until(lambda: bool(rig.outputs("m")))
    [(out, _)] = rig.outputs("m")
    assert out.header_length is None and rig.call.calls[0].header_length is None


def json_error(status: int, message: str) -> ModelAnswer:
    return ModelAnswer(status, orjson.dumps({"error": message}))


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        (json_error(400, "bad input x"), 400, "bad input x"),
        (json_error(404, "model 'm' not found"), 404, "model 'm' not found"),
        (json_error(422, "shape"), 422, "shape"),
        (json_error(500, "the model crashed"), 500, "the model crashed"),
        (json_error(502, "agent gone"), 500, "agent gone"),
        (json_error(501, "nope"), 500, "nope"),
        (json_error(503, "no ready replica"), 503, "no ready replica"),
        (json_error(504, "too slow"), 504, "too slow"),
        (ModelAnswer(500, b"plain text boom\n"), 500, "plain text boom"),
        (ModelAnswer(500, b'{"detail": "x"}'), 500, '{"detail": "x"}'),
        (ModelAnswer(500, b""), 500, "the model answered HTTP 500 with no message"),
        (ModelAnswer(302, b"moved"), 500, "moved"),
    ],
)
async def test_a_failed_call_becomes_an_error_record(
    answer: ModelAnswer, status: int, message: str
) -> None:
    rig = await started_rig()

    async def fail(call: Call) -> ModelAnswer:
        return answer

    rig.call.reply = fail
    env = rig.envelope()
    async with rig.running():
        await rig.send("m", b"{}", env)
        await until(lambda: bool(rig.errors()) and rig.committed() == 1)
    [(out, error)] = rig.errors()
    assert (error.pipeline, error.step, error.model) == ("chain", "first", "m")
    assert (error.status, error.message) == (status, message)
    assert out == dataclasses.replace(env, kind=Kind.ERROR)
    assert rig.outputs("m") == []
    assert rig.outcomes("failed") == 1
    labels = {"pipeline": "chain", "step": "first", "code": str(status)}
    assert rig.registry.get_sample_value("loadmaster_pipeline_step_errors_total", labels) == 1


async def test_a_step_the_pipeline_does_not_have_is_a_400_naming_it() -> None:
    rig = await started_rig()
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope(step="second"))
        await rig.send("m", b"{}", rig.envelope(request="r2", pipeline="gone"))
        await until(lambda: len(rig.errors()) == 2)
    errors = {e.pipeline: e for _, e in rig.errors()}
    assert errors["chain"].status == 400
    assert "no step 'second'" in errors["chain"].message
    assert "it has: first" in errors["chain"].message
    assert (
        errors["gone"].status == 404 and "pipeline 'gone' is not loaded" in errors["gone"].message
    )
    assert rig.call.calls == []


async def test_expired_and_bad_records_are_dropped_and_committed() -> None:
    rig = await started_rig()
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope(deadline_ms=rig.clock.now))
        await rig.send_raw("m", b"not ours")
        await rig.send_raw(
            "m", b"{}", [("lm-request", b"r9"), ("lm-pipeline", b"chain")]
        )  # no step
        await until(lambda: rig.outcomes("expired") == 1 and rig.outcomes("bad") == 2)
        await until(lambda: rig.committed() == 3)
    assert rig.call.calls == [] and rig.outputs("m") == [] and rig.errors() == []


async def test_a_step_answered_before_is_not_called_again() -> None:
    rig = await started_rig()
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope())
        await until(lambda: bool(rig.outputs("m")))
        await rig.send("m", b"{}", rig.envelope())  # delivered again
        await rig.send("m", b"{}", rig.envelope(step="first", request="r2"))
        await until(lambda: rig.committed() == 3)
    assert rig.outcomes("duplicate") == 1 and rig.outcomes("done") == 2
    assert [c.request_id for c in rig.call.calls] == ["r1", "r2"]


async def test_a_copy_of_a_running_step_waits_for_it_and_is_not_committed_before() -> None:
    rig = await started_rig()
    release = asyncio.Event()

    async def slow(call: Call) -> ModelAnswer:
        await release.wait()
        return ModelAnswer(200, b"done")

    rig.call.reply = slow
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope())
        await until(lambda: len(rig.call.calls) == 1)
        await rig.send("m", b"{}", rig.envelope())
        await rig.send("m", b"{}", rig.envelope(request="r2"))
        await until(lambda: len(rig.call.calls) == 2)  # r2 started: the copy of r1 was fetched
        assert rig.call.calls[1].request_id == "r2"
        assert rig.committed() == 0
        release.set()
        await until(lambda: rig.committed() == 3)
    assert len(rig.outputs("m")) == 2 and rig.outcomes("duplicate") == 1


async def test_the_offset_is_committed_only_after_the_broker_acknowledged_the_answer() -> None:
    bus = GatedBus()
    rig = await started_rig(Rig(bus))
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope())
        await bus.gated[0].waiting.wait()  # the answer is being produced
        assert rig.outcomes("done") == 0 and rig.committed() == 0
        bus.gate.set()
        await until(lambda: rig.committed() == 1)
    assert len(rig.outputs("m")) == 1


async def test_a_refused_produce_is_retried() -> None:
    bus = GatedBus(failures=2)
    bus.gate.set()
    rig = await started_rig(Rig(bus))
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope())
        await until(lambda: rig.committed() == 1)
    assert len(rig.outputs("m")) == 1 and rig.clock.sleeps == [0.05, 0.1]


async def test_a_produce_refused_until_the_deadline_drops_the_record() -> None:
    bus = GatedBus(failures=1000)
    bus.gate.set()
    rig = await started_rig(Rig(bus))
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope(deadline_ms=rig.clock.now + 1000))
        await until(lambda: rig.committed() == 1)
    assert rig.outputs("m") == [] and rig.outcomes("expired") == 1


async def test_an_unreachable_gateway_is_retried_then_reported_as_503() -> None:
    rig = await started_rig()

    async def unreachable(call: Call) -> ModelAnswer:
        raise GatewayUnreachable("ConnectionRefusedError: refused")

    rig.call.reply = unreachable
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope(deadline_ms=rig.clock.now + 1000))
        await until(lambda: bool(rig.errors()))
    [(_, error)] = rig.errors()
    assert error.status == 503
    assert error.message == (
        f"model worker cannot reach the gateway at {GATEWAY}: ConnectionRefusedError: refused"
    )
    assert rig.clock.sleeps == [0.05, 0.1, 0.2, 0.4]  # the next, 0.8 s, would pass the deadline
    assert [c.timeout_ms for c in rig.call.calls] == [1000, 950, 850, 650, 250]


async def test_a_gateway_back_after_a_blip_answers() -> None:
    rig = await started_rig()
    attempts: list[int] = []

    async def blip(call: Call) -> ModelAnswer:
        attempts.append(1)
        if len(attempts) == 1:
            raise GatewayUnreachable("reset")
        return ModelAnswer(200, b"ok")

    rig.call.reply = blip
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope())
        await until(lambda: bool(rig.outputs("m")))
    assert len(attempts) == 2 and rig.errors() == []


async def test_an_answer_after_the_deadline_is_dropped() -> None:
    rig = await started_rig()

    async def late(call: Call) -> ModelAnswer:
        rig.clock.now += call.timeout_ms
        return ModelAnswer(504, b'{"error": "deadline"}')

    rig.call.reply = late
    async with rig.running():
        await rig.send("m", b"{}", rig.envelope())
        await until(lambda: rig.outcomes("expired") == 1)
    assert rig.errors() == [] and rig.outputs("m") == []


async def test_records_run_concurrently_up_to_the_bound() -> None:
    rig = await started_rig(Rig(max_in_flight=2))
    waiting: asyncio.Queue[asyncio.Event] = asyncio.Queue()

    async def held(call: Call) -> ModelAnswer:
        gate = asyncio.Event()
        await waiting.put(gate)
        await gate.wait()
        return ModelAnswer(200, b"ok")

    rig.call.reply = held
    async with rig.running():
        for n in range(5):
            await rig.send("m", b"{}", rig.envelope(request=f"r{n}"))
        for _ in range(5):
            async with asyncio.timeout(5):
                gate = await waiting.get()
            await until(lambda: rig.call.running == 2 or len(rig.call.calls) == 5)
            gate.set()
        await until(lambda: rig.committed() == 5)
    assert rig.call.most_running == 2 and len(rig.outputs("m")) == 5


async def test_the_subscription_follows_the_models_of_the_pipelines() -> None:
    rig = Rig()
    rig.create("m", "n", "o")
    async with rig.running():
        rig.worker.set_pipelines(
            {"a": entry("a", ("s1", "m"), ("s2", "n")), "b": entry("b", ("t", "n"))}
        )
        await until(
            lambda: rig.subscribed() == {TOPICS.model_inputs("m"), TOPICS.model_inputs("n")}
        )
        rig.worker.set_pipelines({"b": entry("b", ("t", "o"))})
        await until(lambda: rig.subscribed() == {TOPICS.model_inputs("o")})
        await rig.send("o", b"{}", rig.envelope(pipeline="b", step="t"))
        await until(lambda: bool(rig.outputs("o")))
        rig.worker.set_pipelines({})
        await until(lambda: not rig.subscribed())


async def test_close_lets_records_in_flight_finish_and_leaves_the_group() -> None:
    rig = await started_rig()
    release = asyncio.Event()

    async def held(call: Call) -> ModelAnswer:
        await release.wait()
        return ModelAnswer(200, b"ok")

    rig.call.reply = held
    task = asyncio.create_task(rig.worker.run())
    await rig.send("m", b"{}", rig.envelope())
    await until(lambda: len(rig.call.calls) == 1)
    task.cancel()
    closing = asyncio.create_task(rig.worker.close())
    release.set()
    await closing
    assert rig.committed() == 1 and len(rig.outputs("m")) == 1
    assert rig.bus.members(CONFIG.prefix + ".default.model-workers") == []


async def test_close_cancels_what_outlasts_the_drain_and_commits_nothing_of_it() -> None:
    rig = await started_rig(Rig(drain_s=0))

    async def never(call: Call) -> ModelAnswer:
        await asyncio.Event().wait()
        raise AssertionError

    rig.call.reply = never
    task = asyncio.create_task(rig.worker.run())
    await rig.send("m", b"{}", rig.envelope())
    await until(lambda: len(rig.call.calls) == 1)
    task.cancel()
    await rig.worker.close()
    assert rig.committed() == 0 and rig.outputs("m") == []


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_in_flight must be at least 1"):
        ModelWorker(
            MemoryBus(),
            CONFIG,
            GATEWAY,
            WorkerMetrics(CollectorRegistry()),
            client_id="x",
            max_in_flight=0,
        )


async def test_by_default_the_model_is_called_through_the_gateway_over_http() -> None:
    seen: list[tuple[str, str | None, bytes]] = []

    async def infer(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("x-request-id"), await request.read()))
        return web.Response(body=b'{"outputs": []}', content_type="application/json")

    app = web.Application()
    app.router.add_post("/v2/models/{model}/infer", infer)
    runner, address = await start_app(app)
    bus = MemoryBus()
    rig = Rig(bus)
    rig.create("m")
    worker = ModelWorker(
        bus, CONFIG, f"http://{address}", rig.metrics, client_id="mw-http", commit_interval_s=0
    )
    worker.set_pipelines({"chain": entry()})
    task = asyncio.create_task(worker.run())
    try:
        await rig.send("m", b'{"inputs": []}', rig.envelope(deadline_ms=wall_ms() + 60_000))
        await until(lambda: bool(rig.outputs("m")))
        assert worker.subscribed == {TOPICS.model_inputs("m")}
    finally:
        task.cancel()
        await worker.close()
        await runner.cleanup()
    assert seen == [("/v2/models/m/infer", "r1", b'{"inputs": []}')]
    [(out, body)] = rig.outputs("m")
    assert body == b'{"outputs": []}' and out.header_length is None
