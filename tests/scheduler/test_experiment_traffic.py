"""Traffic counts from gateways and the experiment status derived from them and the models."""

from __future__ import annotations

import pytest

from loadmaster.resources import ExperimentState
from scheduler.experiment_admin import start_experiment, stop_experiment
from scheduler.experiment_records import ExperimentRecord
from scheduler.experiment_status import ModelReadiness, summarize_experiment
from scheduler.experiment_traffic import TrafficEntry, TrafficLedger, TrafficTotals
from scheduler.experiment_views import experiment_view
from tests.scheduler.fakes import (
    FakeClock,
    Gi,
    Rig,
    apply,
    experiment,
    loaded,
    make_core,
    reconcile,
    register,
    spec,
)

AB = ExperimentRecord(experiment("ab", ("a", 1), ("b", 3), mirror=("m", 20)), uid=7)


def entry(model: str, requests: int, uid: int = 7, mirror: bool = False) -> TrafficEntry:
    return TrafficEntry("ab", uid, model, requests, mirror)


def test_counts_are_the_latest_per_source_summed_over_gateways() -> None:
    ledger = TrafficLedger()
    assert ledger.record("g1", "p1", entry("a", 10), AB)
    assert ledger.record("g1", "p1", entry("b", 30), AB)
    assert ledger.record("g1", "p1", entry("a", 25), AB)  # cumulative: replaces 10
    assert ledger.record("g2", "p1", entry("a", 5), AB)  # another gateway adds
    assert ledger.record("g1", "p2", entry("b", 1), AB)  # another process of g1 adds
    assert ledger.record("g2", "p1", entry("m", 4, mirror=True), AB)
    totals = ledger.totals("ab", 7)
    assert totals == TrafficTotals({"a": 30, "b": 31}, {"m": 4})
    assert totals.total == 61  # mirrored copies are not requests of the split


@pytest.mark.parametrize(
    ("line", "current"),
    [
        pytest.param(entry("a", 10, uid=6), AB, id="older-uid"),
        pytest.param(entry("a", 10, uid=8), AB, id="newer-uid"),
        pytest.param(entry("a", 10), None, id="no-such-experiment"),
        pytest.param(entry("z", 10), AB, id="not-a-candidate"),
        pytest.param(entry("m", 10), AB, id="mirror-counted-as-candidate"),
        pytest.param(entry("a", 10, mirror=True), AB, id="candidate-counted-as-mirror"),
    ],
)
def test_reports_that_do_not_fit_the_current_experiment_are_ignored(
    line: TrafficEntry, current: ExperimentRecord | None
) -> None:
    ledger = TrafficLedger()
    assert not ledger.record("g1", "p1", line, current)
    assert ledger.totals("ab", 7) == TrafficTotals()
    assert ledger.sources("ab") == 0


def test_a_new_uid_drops_the_old_counts_and_forget_drops_all() -> None:
    ledger = TrafficLedger()
    ledger.record("g1", "p1", entry("a", 10), AB)
    changed = ExperimentRecord(AB.spec, uid=8)
    assert not ledger.record("g1", "p1", entry("a", 11), changed)  # a late report of uid 7
    assert ledger.record("g1", "p1", entry("b", 2, uid=8), changed)
    assert ledger.sources("ab") == 1
    assert ledger.totals("ab", 8) == TrafficTotals({"b": 2}, {})
    ledger.forget("ab")
    assert ledger.totals("ab", 8) == TrafficTotals()


def test_status_shares_and_waiting_reason() -> None:
    models = {
        "a": ModelReadiness("ModelAvailable", True),
        "m": ModelReadiness("ModelProgressing", False),
    }
    view = summarize_experiment(AB, models, TrafficTotals({"a": 30, "b": 10}, {"m": 8}))
    assert view.state is ExperimentState.WAITING
    assert view.reason == "missing: b; not ready: m (ModelProgressing)"
    assert [(c.model, c.weight, c.requests) for c in view.candidates] == [
        ("a", 1, 30),
        ("b", 3, 10),
    ]
    assert [c.expected_share for c in view.candidates] == [0.25, 0.75]
    assert [c.observed_share for c in view.candidates] == [0.75, 0.25]
    assert view.mirror is not None
    assert (view.mirror.requests, view.mirror.expected_share, view.mirror.observed_share) == (
        8,
        0.2,
        0.2,
    )
    assert view.total_requests == 40


def test_status_without_traffic_is_zero_and_ready_when_every_model_is() -> None:
    ready = ModelReadiness("ModelAvailable", True)
    view = summarize_experiment(AB, dict.fromkeys("abm", ready), TrafficTotals())
    assert (view.state, view.reason, view.total_requests) == (ExperimentState.READY, "", 0)
    assert [c.observed_share for c in view.candidates] == [0.0, 0.0]


async def test_status_follows_the_models_and_stop_forgets_the_counts() -> None:
    clock = FakeClock()
    rig = make_core(clock=clock)
    await register(rig, "s1", 4 * Gi)
    await start_experiment(rig.core, experiment("ab", ("a", 1), ("b", 1)))
    assert _state(rig) == (ExperimentState.WAITING, "missing: a, b")
    await apply(rig, spec("a", Gi))
    await apply(rig, spec("b", Gi))
    await reconcile(rig)
    assert _state(rig) == (
        ExperimentState.WAITING,
        "not ready: a (ModelProgressing), b (ModelProgressing)",
    )
    await loaded(rig)
    assert _state(rig) == (ExperimentState.READY, "")
    record = rig.state.experiments["ab"]
    rig.core.traffic.record("g1", "p1", TrafficEntry("ab", record.uid, "a", 3), record)
    assert experiment_view(rig.core, record).total_requests == 3
    clock.advance(rig.core.config.heartbeat_timeout_s + 1)  # the only server goes silent
    await reconcile(rig)
    state, reason = _state(rig)
    assert state is ExperimentState.WAITING and reason.startswith("not ready: a (")
    await stop_experiment(rig.core, "ab")
    assert rig.core.traffic.totals("ab", record.uid) == TrafficTotals()


async def test_restarting_with_a_changed_spec_forgets_the_counts() -> None:
    rig = make_core()
    await start_experiment(rig.core, experiment("ab", ("a", 1), ("b", 1)))
    first = rig.state.experiments["ab"]
    rig.core.traffic.record("g1", "p1", TrafficEntry("ab", first.uid, "a", 3), first)
    await start_experiment(rig.core, experiment("ab", ("a", 1), ("b", 2)))
    assert rig.core.traffic.sources("ab") == 0


def _state(rig: Rig) -> tuple[ExperimentState, str]:
    view = experiment_view(rig.core, rig.state.experiments["ab"])
    return view.state, view.reason
