"""The engine without a bus: records in, records out, time passed by hand; and its memory."""

from __future__ import annotations

from dataclasses import replace

from gateway.pipeline.dataflow_engine import DataflowEngine
from gateway.pipeline.dataflow_memory import DecidedTargets
from gateway.pipeline.graph import compile_pipeline
from gateway.pipeline.step_io import pipeline_response_body
from gateway.pipeline.worker_metrics import Outcome
from loadmaster.kafka.bus import Record
from loadmaster.kafka.records import Envelope, Kind, error_record
from loadmaster.kafka.topics import Topics
from loadmaster.oip.rest_codec import encode_infer_request
from loadmaster.oip.types import InferRequest
from loadmaster.resources.pipeline_spec import JoinType, PipelineSpec, PipelineStep
from tests.gateway.pipeline.dataflow_rig import DEADLINE_MS, START_MS, fp32

TOPICS = Topics("lm", "ns")
SPEC = PipelineSpec(
    "p",
    (
        PipelineStep("a", "m"),
        PipelineStep("b", "m"),
        PipelineStep("c", "n", inputs=("a", "b"), inputs_join=JoinType.INNER, join_window_ms=20),
    ),
)
ENVELOPE = Envelope("r1", "p", DEADLINE_MS, "gw", client_request="c1")


def record(topic: str, value: bytes, envelope: Envelope, offset: int = 0) -> Record:
    headers = tuple(envelope.headers())
    return Record(topic, 0, offset, envelope.request.encode(), value, headers, START_MS)


def engine() -> DataflowEngine:
    made = DataflowEngine(TOPICS)
    made.set_graphs({"p": compile_pipeline(SPEC)})
    return made


def request_record(envelope: Envelope = ENVELOPE) -> Record:
    body, length = encode_infer_request(InferRequest("p", (fp32("x", 1),)), binary=True)
    return record(TOPICS.pipeline_inputs("p"), body, replace(envelope, header_length=length))


def test_the_request_fires_every_step_that_takes_it() -> None:
    handled = engine().handle(request_record(), 1.0, START_MS)
    assert handled.outcome is Outcome.DONE
    assert [e.topic for e in handled.emits] == [TOPICS.model_inputs("m")] * 2
    assert all(e.key == b"r1" and e.deadline_ms == DEADLINE_MS for e in handled.emits)


def test_records_that_are_not_sources_of_a_known_step_are_bad() -> None:
    made = engine()
    skip_on_inputs = replace(ENVELOPE, kind=Kind.SKIP)
    unknown_step = replace(ENVELOPE, step="zz")
    wrong_topic = replace(ENVELOPE, step="a")
    for topic, env in [
        (TOPICS.pipeline_inputs("p"), skip_on_inputs),
        (TOPICS.model_outputs("m"), unknown_step),
        (TOPICS.model_outputs("n"), wrong_topic),  # step a's model is m, not n
        (TOPICS.model_outputs("m"), replace(ENVELOPE, step="a", kind=Kind.ERROR)),
    ]:
        assert made.handle(record(topic, b"", env), 1.0, START_MS).outcome is Outcome.BAD


def test_a_step_answer_that_is_not_a_response_fails_the_request_with_500() -> None:
    made = engine()
    made.handle(request_record(), 1.0, START_MS)
    answer = record(TOPICS.model_outputs("m"), b"{}", replace(ENVELOPE, step="a"), 1)
    handled = made.handle(answer, 1.0, START_MS)
    assert handled.outcome is Outcome.FAILED
    [emit] = handled.emits
    error = error_record(emit.value)
    assert (emit.topic, error.status, error.step, error.model) == (TOPICS.errors, 500, "a", "m")
    assert made.open_requests == 0


def waiting_for_b() -> DataflowEngine:
    """An engine whose request has step c's inner join holding a's answer, waiting for b."""
    made = engine()
    made.handle(request_record(), 1.0, START_MS)
    body, length = pipeline_response_body("m", "r1", (fp32("y", 2),))
    answer = replace(ENVELOPE, step="a", header_length=length)
    made.handle(record(TOPICS.model_outputs("m"), body, answer, 1), 1.0, START_MS)
    assert made.next_window() == 1.02
    return made


def test_an_inner_window_that_closes_before_the_deadline_fails_the_request() -> None:
    made = waiting_for_b()
    assert made.expire(1.01, START_MS + 10) == []
    [emit] = made.expire(1.02, START_MS + 20)
    assert error_record(emit.value).status == 504
    assert made.open_requests == 0


def test_a_window_of_a_request_past_its_deadline_emits_nothing() -> None:
    made = waiting_for_b()
    assert made.expire(2.0, DEADLINE_MS) == []
    assert made.open_requests == 0


def test_pipelines_that_leave_drop_their_open_requests() -> None:
    made = engine()
    made.handle(request_record(), 1.0, START_MS)
    assert made.open_requests == 1
    made.set_graphs({})
    assert made.open_requests == 0
    assert made.handle(request_record(), 1.0, START_MS).outcome is Outcome.BAD


def test_decided_targets_are_bounded_and_forgotten_at_their_deadline() -> None:
    memory = DecidedTargets(capacity=2)
    memory.add("r1", "a", 100)
    memory.add("r2", "a", 200)
    memory.add("r3", "a", 300)
    assert len(memory) == 2 and not memory.has("r1", "a", 0)
    assert memory.has("r2", "a", 199) and not memory.has("r2", "a", 200)
    memory.forget_expired(250)
    assert len(memory) == 1 and memory.has("r3", "a", 250)
