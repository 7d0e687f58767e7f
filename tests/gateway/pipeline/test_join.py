"""The join state machine, table-driven per join type, with time passed in by hand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateway.pipeline.graph import Target
from gateway.pipeline.join import (
    WAIT,
    Arrival,
    Decision,
    Fail,
    Fire,
    Presence,
    Skip,
    TargetJoin,
    Verdict,
    join_verdict,
)
from loadmaster.resources.pipeline_refs import TensorRef, parse_ref
from loadmaster.resources.pipeline_spec import JoinType
from tests.gateway.pipeline.dataflow_rig import fp32

INNER, OUTER, ANY = JoinType.INNER, JoinType.OUTER, JoinType.ANY
P, A, S = Presence.PENDING, Presence.PRESENT, Presence.ABSENT


@pytest.mark.parametrize(
    ("parts", "join", "passed", "verdict"),
    [
        ((P, A), INNER, False, Verdict.WAIT),
        ((P, A), INNER, True, Verdict.WAIT),  # the caller fails an inner join past its window
        ((A, A), INNER, False, Verdict.READY),
        ((P, S), INNER, False, Verdict.BLOCKED),
        ((P, A), OUTER, False, Verdict.WAIT),
        ((P, A), OUTER, True, Verdict.READY),
        ((P, S), OUTER, True, Verdict.WAIT),  # nothing to fire with yet
        ((S, A), OUTER, False, Verdict.READY),
        ((S, S), OUTER, False, Verdict.BLOCKED),
        ((P, P), ANY, False, Verdict.WAIT),
        ((P, A), ANY, False, Verdict.READY),
        ((P, S), ANY, False, Verdict.WAIT),
        ((S, S), ANY, True, Verdict.BLOCKED),
    ],
)
def test_join_verdicts(
    parts: tuple[Presence, ...], join: JoinType, passed: bool, verdict: Verdict
) -> None:
    assert join_verdict(parts, join, passed) is verdict


def step(
    inputs: tuple[str, ...] = ("a", "b"),
    join: JoinType = INNER,
    window_ms: int = 0,
    triggers: tuple[str, ...] = (),
    triggers_join: JoinType = INNER,
) -> Target:
    return Target(
        name="c",
        model="m",
        inputs=tuple(parse_ref(r) for r in inputs),
        inputs_join=join,
        window_ms=window_ms,
        triggers=tuple(parse_ref(r) for r in triggers),
        triggers_join=triggers_join,
    )


def data(source: str, *names: str) -> Arrival:
    return Arrival(source, tuple(fp32(n, 1) for n in names or ("y",)))


def skipped(source: str) -> Arrival:
    return Arrival(source, None, f"step {source!r} did not run: because")


@dataclass(frozen=True)
class Advance:
    ms: int


Event = Arrival | Advance


def play(target: Target, events: list[Event]) -> list[Decision]:
    """Feed the events in order; an Advance moves time and re-decides (as a window timer)."""
    now = 10.0
    join = TargetJoin(target, now)
    decisions: list[Decision] = []
    for event in events:
        if isinstance(event, Advance):
            now += event.ms / 1000
            decisions.append(join.decide(now))
        else:
            decisions.append(join.feed(event, now))
    return decisions


def fired_from(decision: Decision) -> list[str]:
    assert isinstance(decision, Fire), decision
    return [arrival.source for arrival in decision.arrivals]


def test_inner_waits_for_every_source_then_fires_with_all_in_input_order() -> None:
    first, second = play(step(), [data("b"), data("a")])
    assert first == WAIT
    assert fired_from(second) == ["a", "b"]


def test_inner_with_a_skipped_source_is_skipped_at_once_with_that_sources_reason() -> None:
    [decision] = play(step(), [skipped("b")])
    assert decision == Skip("step 'b' did not run: because")


def test_inner_window_expiry_fails_with_504_naming_what_it_waited_for() -> None:
    decisions = play(step(window_ms=50), [data("a"), Advance(49), Advance(1)])
    assert decisions[:2] == [WAIT, WAIT]
    assert decisions[2] == Fail(504, "step 'c': inner join window of 50 ms expired waiting for b")


def test_inner_without_a_window_waits_however_long() -> None:
    assert play(step(), [data("a"), Advance(60_000)]) == [WAIT, WAIT]


def test_outer_fires_when_every_source_arrived_without_waiting_for_the_window() -> None:
    decisions = play(step(join=OUTER, window_ms=50), [data("a"), skipped("b")])
    assert decisions[0] == WAIT
    assert fired_from(decisions[1]) == ["a"]


def test_outer_fires_with_what_arrived_when_the_window_closes() -> None:
    decisions = play(step(join=OUTER, window_ms=50), [data("b"), Advance(50)])
    assert decisions[0] == WAIT
    assert fired_from(decisions[1]) == ["b"]


def test_outer_past_its_window_with_nothing_yet_fires_on_the_first_data() -> None:
    decisions = play(
        step(("a", "b", "d"), join=OUTER, window_ms=50), [skipped("a"), Advance(50), data("d")]
    )
    assert decisions[:2] == [WAIT, WAIT]
    assert fired_from(decisions[2]) == ["d"]


def test_outer_with_every_source_skipped_is_skipped_naming_each() -> None:
    [_, decision] = play(step(join=OUTER), [skipped("a"), skipped("b")])
    assert decision == Skip("step 'a' did not run: because; step 'b' did not run: because")


def test_any_fires_on_the_first_data_and_takes_only_that_source() -> None:
    decisions = play(step(join=ANY), [skipped("a"), data("b")])
    assert decisions[0] == WAIT
    assert fired_from(decisions[1]) == ["b"]


def test_any_held_by_a_trigger_still_takes_only_the_first_data() -> None:
    target = step(join=ANY, triggers=("t.outputs.go",))
    decisions = play(target, [data("b"), data("a"), data("t", "go")])
    assert decisions[:2] == [WAIT, WAIT]
    assert fired_from(decisions[2]) == ["b"]


def test_any_with_every_source_skipped_is_skipped() -> None:
    [_, decision] = play(step(join=ANY), [skipped("a"), skipped("b")])
    assert isinstance(decision, Skip)


@pytest.mark.parametrize(
    ("triggers_join", "events", "expected"),
    [
        (INNER, [data("t", "go")], "wait"),
        (INNER, [data("t", "go"), data("u", "go")], "fire"),
        (INNER, [data("t", "other")], "skip"),
        (INNER, [skipped("u")], "skip"),
        (ANY, [data("t", "go")], "fire"),
        (ANY, [data("t", "other")], "wait"),
        (ANY, [data("t", "other"), skipped("u")], "skip"),
        (OUTER, [data("t", "go")], "wait"),
        (OUTER, [data("t", "go"), Advance(50)], "fire"),
        (OUTER, [data("t", "go"), skipped("u")], "fire"),
        (OUTER, [data("t", "other"), skipped("u")], "skip"),
    ],
)
def test_triggers(triggers_join: JoinType, events: list[Event], expected: str) -> None:
    target = step(
        ("pipeline.inputs",),
        window_ms=50,
        triggers=("t.outputs.go", "u.outputs.go"),
        triggers_join=triggers_join,
    )
    decisions = play(target, [data("pipeline", "x"), *events])
    kinds = {"wait": type(WAIT), "fire": Fire, "skip": Skip}
    assert isinstance(decisions[-1], kinds[expected]), decisions[-1]


def test_a_trigger_that_cannot_fire_says_what_its_source_did() -> None:
    target = step(("pipeline.inputs",), triggers=("t.outputs.go",))
    [decision] = play(target, [data("t", "x", "z")])
    assert decision == Skip("trigger 't.outputs.go' did not fire (step 't' answered with x, z)")


def test_a_whole_source_trigger_fires_on_any_data() -> None:
    target = step(("pipeline.inputs",), triggers=("t",))
    decisions = play(target, [data("t", "anything"), data("pipeline", "x")])
    assert fired_from(decisions[1]) == ["pipeline"]


def test_an_inner_trigger_still_missing_at_the_window_end_fails() -> None:
    target = step(("pipeline.inputs",), window_ms=50, triggers=("t.outputs.go",))
    decisions = play(target, [data("pipeline", "x"), Advance(50)])
    assert decisions[1] == Fail(504, "step 'c': inner join window of 50 ms expired waiting for t")


def test_window_ends_only_when_there_is_a_window() -> None:
    assert TargetJoin(step(window_ms=0), 1.0).window_ends_at is None
    assert TargetJoin(step(window_ms=250), 1.0).window_ends_at == pytest.approx(1.25)


def test_a_source_counts_as_joined_once_fed() -> None:
    join = TargetJoin(step(), 0.0)
    join.feed(data("a"), 0.0)
    assert (join.joined("a"), join.joined("b")) == (True, False)
    assert join.arrivals["a"].tensor("y") is not None
    assert TensorRef("a").text == "a.outputs"
