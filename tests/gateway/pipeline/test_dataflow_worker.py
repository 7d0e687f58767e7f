"""The dataflow worker end to end on a MemoryBus: a request goes in on pipeline.P.inputs, the
test plays the model worker, and the answer (or the error) comes out where the gateway reads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from loadmaster.kafka.bus import BusError
from loadmaster.kafka.records import Kind
from loadmaster.oip.types import InferRequest, Tensor
from loadmaster.resources.pipeline_spec import (
    JoinType,
    PipelineOutput,
    PipelineSpec,
    PipelineStep,
    tensor_map_of,
)
from tests.gateway.fakes import until
from tests.gateway.pipeline.dataflow_rig import START_MS, Rig, doubled, fp32, values

CHAIN = PipelineSpec(
    "chain",
    (
        PipelineStep("first", "double"),
        PipelineStep(
            "second",
            "triple",
            inputs=("first.outputs.y",),
            tensor_map=tensor_map_of({"first.outputs.y": "x"}),
        ),
    ),
    PipelineOutput(tensor_map=tensor_map_of({"second.outputs.x": "answer"})),
)


def tripled(request: InferRequest) -> list[Tensor]:
    return [fp32(t.name, *(3 * v for v in values(t))) for t in request.inputs]


def summed(request: InferRequest) -> list[Tensor]:
    return [
        fp32("sum", *(sum(vs) for vs in zip(*(values(t) for t in request.inputs), strict=True)))
    ]


def fan(join: JoinType, window_ms: int = 0) -> PipelineSpec:
    """Two branches off the request, joined by step `both` (model `add`)."""
    return PipelineSpec(
        "fan",
        (
            PipelineStep("left", "double"),
            PipelineStep("right", "triple", tensor_map=tensor_map_of({"pipeline.inputs.y": "z"})),
            PipelineStep(
                "both",
                "add",
                inputs=("left.outputs.y", "right.outputs.z"),
                inputs_join=join,
                join_window_ms=window_ms,
            ),
        ),
    )


async def test_a_two_step_chain_answers_with_the_last_steps_outputs_renamed() -> None:
    rig = Rig(CHAIN)
    await rig.request("chain", fp32("y", 1, 2))
    await rig.settle({"double": doubled, "triple": tripled})

    [(env, first)] = rig.step_requests("double")
    assert (env.step, env.kind, first.parameters) == (
        "first",
        Kind.DATA,
        {"binary_data_output": True},
    )
    assert env.header_length is not None
    [(env, second)] = rig.step_requests("triple")
    assert (env.step, [t.name for t in second.inputs]) == ("second", ["x"])
    [(env, answer)] = rig.answers("chain")
    assert (answer.model, answer.id, env.request, env.gateway) == (
        "chain",
        "client-req-1",
        "req-1",
        "gw-1",
    )
    assert [(t.name, values(t)) for t in answer.outputs] == [("answer", [6.0, 12.0])]
    assert rig.errors() == []


async def test_fan_out_and_an_inner_fan_in_wait_for_both_branches() -> None:
    rig = Rig(fan(JoinType.INNER))
    await rig.request("fan", fp32("y", 1))
    await rig.turn()
    await rig.play_models({"double": doubled})
    await rig.turn()
    assert rig.step_requests("add") == []  # right has not answered yet
    await rig.settle({"triple": tripled, "add": summed})

    [(_, both)] = rig.step_requests("add")
    assert [(t.name, values(t)) for t in both.inputs] == [("y", [2.0]), ("z", [3.0])]
    [(_, answer)] = rig.answers("fan")
    assert [(t.name, values(t)) for t in answer.outputs] == [("sum", [5.0])]


async def test_an_any_fan_in_fires_on_the_first_branch_and_ignores_the_second() -> None:
    rig = Rig(fan(JoinType.ANY))
    await rig.request("fan", fp32("y", 1))
    await rig.turn()
    await rig.play_models({"double": doubled})
    await rig.turn()
    [(_, both)] = rig.step_requests("add")
    assert [t.name for t in both.inputs] == ["y"]
    await rig.settle({"triple": tripled, "add": summed})
    assert len(rig.step_requests("add")) == 1
    assert len(rig.answers("fan")) == 1


async def test_an_outer_join_fires_with_what_arrived_when_its_window_closes() -> None:
    spec = PipelineSpec(
        "fan",
        fan(JoinType.INNER).steps[:2],
        PipelineOutput(steps=("left", "right"), steps_join=JoinType.OUTER, join_window_ms=50),
    )
    rig = Rig(spec)
    await rig.request("fan", fp32("y", 1))
    await rig.turn()
    await rig.play_models({"double": doubled})
    await rig.turn()
    rig.clock.advance(49)
    await rig.turn()
    assert rig.answers("fan") == []
    rig.clock.advance(1)
    await rig.turn()
    [(_, answer)] = rig.answers("fan")
    assert [t.name for t in answer.outputs] == ["y"]
    await rig.settle({"triple": tripled})  # the late branch changes nothing
    assert len(rig.answers("fan")) == 1


async def test_an_inner_window_that_expires_is_a_504_naming_the_missing_source() -> None:
    rig = Rig(fan(JoinType.INNER, window_ms=50))
    await rig.request("fan", fp32("y", 1))
    await rig.turn()
    await rig.play_models({"double": doubled})
    await rig.turn()
    rig.clock.advance(60)
    await rig.turn()
    [(env, error)] = rig.errors()
    assert (error.status, error.step, error.model, error.pipeline) == (504, "both", "add", "fan")
    assert error.message == "step 'both': inner join window of 50 ms expired waiting for right"
    assert (env.request, env.gateway, env.kind) == ("req-1", "gw-1", Kind.ERROR)
    await rig.settle({"triple": tripled, "add": summed})
    assert rig.step_requests("add") == [] and rig.answers("fan") == []


ROUTED = PipelineSpec(
    "routed",
    (
        PipelineStep("choose", "router"),
        PipelineStep("b", "double", triggers=("choose.outputs.go_b",)),
        PipelineStep("c", "triple", triggers=("choose.outputs.go_c",)),
    ),
    PipelineOutput(steps=("b", "c"), steps_join=JoinType.ANY),
)


def router(*go: str) -> Callable[[InferRequest], list[Tensor]]:
    return lambda request: [fp32(name, 1) for name in go]


async def test_a_trigger_that_does_not_fire_skips_its_step_and_the_other_branch_answers() -> None:
    rig = Rig(ROUTED)
    await rig.request("routed", fp32("y", 1))
    await rig.settle({"router": router("go_b"), "double": doubled, "triple": tripled})

    assert rig.step_requests("triple") == []
    [skip] = rig.skips("triple")
    assert skip.step == "c"
    assert skip.reason == (
        "step 'c' did not run: trigger 'choose.outputs.go_c' did not fire "
        "(step 'choose' answered with go_b)"
    )
    [(_, answer)] = rig.answers("routed")
    assert [(t.name, values(t)) for t in answer.outputs] == [("y", [2.0])]
    assert rig.errors() == []


async def test_an_output_whose_every_branch_was_skipped_is_a_400_saying_why() -> None:
    rig = Rig(ROUTED)
    await rig.request("routed", fp32("y", 1))
    await rig.settle({"router": router(), "double": doubled, "triple": tripled})

    assert rig.answers("routed") == []
    [(_, error)] = rig.errors()
    assert (error.status, error.step, error.model) == (400, "", "")
    assert error.message.startswith("pipeline 'routed' produced no output: step 'b' did not run:")
    assert "trigger 'choose.outputs.go_c' did not fire" in error.message
    assert (rig.outcome("skipped"), rig.outcome("failed")) == (1, 1)  # b's skip, then c's


async def test_a_referenced_tensor_that_did_not_arrive_is_a_400() -> None:
    spec = PipelineSpec(
        "miss",
        (PipelineStep("a", "double"), PipelineStep("b", "triple", inputs=("a.outputs.z",))),
    )
    rig = Rig(spec)
    await rig.request("miss", fp32("y", 1))
    await rig.settle({"double": doubled, "triple": tripled})
    [(_, error)] = rig.errors()
    assert (error.status, error.step, error.model) == (400, "b", "triple")
    assert error.message == "step 'b': input 'a.outputs.z' did not arrive: step 'a' answered with y"
    assert rig.outcome("failed") == 1


async def test_a_redelivered_record_produces_nothing_new() -> None:
    rig = Rig(CHAIN)
    await rig.request("chain", fp32("y", 1))
    await rig.settle({"double": doubled, "triple": tripled})
    sent = rig.bus.sent
    [original] = rig.bus.records(rig.topics.pipeline_inputs("chain"))
    await rig.bus.append(original.topic, original.value, original.key, original.headers)
    [first_answer] = rig.bus.records(rig.topics.model_outputs("double"))
    await rig.bus.append(
        first_answer.topic, first_answer.value, first_answer.key, first_answer.headers
    )
    await rig.settle({})
    assert rig.bus.sent == sent + 2  # only the two copies the test put there
    assert rig.outcome("duplicate") == 2


async def test_expired_bad_and_unknown_records_are_dropped() -> None:
    rig = Rig(CHAIN)
    late = rig.envelope("chain", "late", deadline_ms=START_MS - 1)
    await rig.put(rig.topics.pipeline_inputs("chain"), b"{}", late)
    await rig.bus.append(rig.topics.pipeline_inputs("chain"), b"{}", b"k", [("x", b"y")])
    await rig.put(rig.topics.pipeline_inputs("chain"), b"{}", rig.envelope("other"))
    sent = rig.bus.sent
    await rig.settle({"double": doubled})
    assert rig.bus.sent == sent
    assert (rig.outcome("expired"), rig.outcome("bad")) == (1, 2)


async def test_a_malformed_pipeline_request_is_a_400() -> None:
    rig = Rig(CHAIN)
    await rig.put(rig.topics.pipeline_inputs("chain"), b"[1]", rig.envelope("chain"))
    await rig.settle({})
    [(_, error)] = rig.errors()
    assert error.status == 400
    assert error.message.startswith("the pipeline request is not a valid inference request")


async def test_offsets_are_committed_only_after_what_a_record_caused_was_acknowledged() -> None:
    rig = Rig(CHAIN)
    inputs = rig.topics.pipeline_inputs("chain")
    await rig.request("chain", fp32("y", 1))
    rig.bus.refuse = True
    with pytest.raises(BusError):
        await rig.turn()
    assert rig.committed().get(inputs, 0) == 0
    with pytest.raises(BusError):
        await rig.turn()  # still refused: still nothing committed, nothing lost
    assert rig.committed().get(inputs, 0) == 0
    rig.bus.refuse = False
    await rig.turn()
    assert rig.committed()[inputs] == 1
    assert len(rig.step_requests("double")) == 1


async def test_the_loop_handles_new_records_while_earlier_sends_wait_for_their_acks() -> None:
    rig = Rig(CHAIN)
    inputs = rig.topics.pipeline_inputs("chain")
    rig.bus.held = asyncio.Event()
    task = asyncio.create_task(rig.worker.run())
    await rig.request("chain", fp32("y", 1), request="req-1")
    await until(lambda: rig.worker.open_requests == 1)
    await rig.request("chain", fp32("y", 2), request="req-2")
    await until(lambda: rig.worker.open_requests == 2)  # not held up by req-1's send
    assert rig.step_requests("double") == [] and rig.committed().get(inputs, 0) == 0
    rig.bus.held.set()
    await until(lambda: rig.committed().get(inputs, 0) == 2)
    assert sorted(env.request for env, _ in rig.step_requests("double")) == ["req-1", "req-2"]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await rig.worker.close()


async def test_a_request_past_its_deadline_leaves_no_state_and_no_record() -> None:
    rig = Rig(fan(JoinType.INNER))
    await rig.request("fan", fp32("y", 1))
    await rig.turn()
    await rig.play_models({"double": doubled})
    await rig.turn()
    rig.clock.advance(10_000)
    sent = rig.bus.sent
    await rig.turn()
    assert rig.bus.sent == sent and rig.errors() == []
    assert rig.worker.open_requests == 0


async def test_the_subscription_follows_the_table() -> None:
    rig = Rig(CHAIN)
    await rig.turn()
    topics = rig.topics
    assert rig.worker.subscribed == {
        topics.pipeline_inputs("chain"),
        topics.model_outputs("double"),
        topics.model_outputs("triple"),
    }
    rig.worker.set_pipelines({})
    await rig.turn()
    assert rig.worker.subscribed == frozenset()
    await rig.worker.close()


def test_the_group_is_named_after_prefix_and_namespace() -> None:
    rig = Rig(CHAIN)
    assert rig.worker.group == "loadmaster.default.dataflow"


async def test_requests_in_flight_together_keep_to_their_own_tensors() -> None:
    rig = Rig(CHAIN, partitions=3)
    for number in range(1, 6):
        await rig.request("chain", fp32("y", number), request=f"req-{number}")
    await rig.settle({"double": doubled, "triple": tripled})
    got = {env.request: values(answer.outputs[0]) for env, answer in rig.answers("chain")}
    assert got == {f"req-{n}": [6.0 * n] for n in range(1, 6)}


async def test_run_serves_until_cancelled_and_close_leaves_the_group() -> None:
    rig = Rig(CHAIN)
    task = asyncio.create_task(rig.worker.run())
    await rig.request("chain", fp32("y", 1))
    await until(lambda: len(rig.bus.records(rig.topics.model_inputs("double"))) == 1)
    await rig.play_models({"double": doubled})
    await until(lambda: len(rig.bus.records(rig.topics.model_inputs("triple"))) == 1)
    await rig.play_models({"triple": tripled})
    await until(lambda: len(rig.answers("chain")) == 1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await rig.worker.close()
    assert rig.bus.members(rig.worker.group) == []
    assert rig.committed()[rig.topics.pipeline_inputs("chain")] == 1
