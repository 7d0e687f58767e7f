"""start_experiment and stop_experiment: uids, stored records, restarts, the route table."""

from __future__ import annotations

import pytest

from loadmaster.resources import experiment_from_proto
from scheduler.cluster import ClusterState
from scheduler.experiment_admin import (
    DefaultTaken,
    Started,
    UnknownExperiment,
    start_experiment,
    stop_experiment,
)
from scheduler.experiment_records import ExperimentRecord
from scheduler.model_admin import InvalidSpec
from scheduler.routes import experiment_routes
from scheduler.store import Conflict, decode, encode, keys
from tests.scheduler.fakes import experiment, make_core

AB = experiment("ab", ("a", 50), ("b", 50), default="a")


async def test_start_stores_and_wakes_route_subscribers() -> None:
    rig = make_core()
    generation = rig.core.changes.generation
    assert await start_experiment(rig.core, AB) == Started(1, True)
    assert rig.state.experiments == {"ab": ExperimentRecord(AB, 1)}
    assert rig.core.changes.generation == generation + 1
    stored = await rig.store.get(keys.experiment_key("ab"))
    assert stored is not None
    assert decode(stored.value, ExperimentRecord) == ExperimentRecord(AB, 1)


async def test_identical_start_changes_nothing_and_a_change_gets_a_new_uid() -> None:
    rig = make_core()
    await start_experiment(rig.core, AB)
    revision, generation = rig.store.revision, rig.core.changes.generation
    assert await start_experiment(rig.core, AB) == Started(1, False)
    assert (rig.store.revision, rig.core.changes.generation) == (revision, generation)
    changed = experiment("ab", ("a", 90), ("b", 10), default="a")
    assert await start_experiment(rig.core, changed) == Started(2, True)
    assert rig.state.experiments["ab"] == ExperimentRecord(changed, 2)


async def test_uids_are_never_reused_not_even_after_stop_and_restart() -> None:
    rig = make_core()
    await start_experiment(rig.core, AB)
    await start_experiment(rig.core, experiment("cd", ("c", 1), ("d", 1)))
    await stop_experiment(rig.core, "ab")
    await stop_experiment(rig.core, "cd")
    recovered = await ClusterState.load(rig.store)  # no experiment left, the counter stays
    assert recovered.experiments == {}
    again = make_core(store=rig.store, state=recovered)
    assert await start_experiment(again.core, AB) == Started(3, True)


async def test_recovered_after_a_restart_with_the_same_uid() -> None:
    rig = make_core()
    mirrored = experiment("ab", ("a", 1), ("b", 3), default="b", mirror=("m", 20))
    await start_experiment(rig.core, mirrored)
    await start_experiment(rig.core, experiment("cd", ("c", 1), ("d", 1)))
    recovered = await ClusterState.load(rig.store)
    assert recovered.experiments == rig.state.experiments
    assert recovered.experiments["ab"] == ExperimentRecord(mirrored, 1)
    restarted = make_core(store=rig.store, state=recovered)
    assert await start_experiment(restarted.core, mirrored) == Started(1, False)
    await stop_experiment(restarted.core, "cd")
    assert set((await ClusterState.load(rig.store)).experiments) == {"ab"}


async def test_stop() -> None:
    rig = make_core()
    await start_experiment(rig.core, AB)
    generation = rig.core.changes.generation
    await stop_experiment(rig.core, "ab")
    assert rig.state.experiments == {}
    assert rig.core.changes.generation == generation + 1
    assert await rig.store.get(keys.experiment_key("ab")) is None
    with pytest.raises(UnknownExperiment, match="experiment 'ab' not found"):
        await stop_experiment(rig.core, "ab")


async def test_invalid_spec_is_refused_before_anything_is_written() -> None:
    rig = make_core()
    revision = rig.store.revision
    with pytest.raises(InvalidSpec) as raised:
        await start_experiment(rig.core, experiment("ab", ("a", 0), ("a", 1)))
    assert str(raised.value) == (
        "spec.candidates[0].weight: must be a positive integer, got 0; "
        "spec.candidates[1].name: duplicate candidate 'a' (also spec.candidates[0])"
    )
    assert rig.store.revision == revision


async def test_a_default_is_taken_over_by_one_experiment_at_a_time() -> None:
    rig = make_core()
    await start_experiment(rig.core, AB)
    rival = experiment("rival", ("a", 1), ("c", 1), default="a")
    with pytest.raises(DefaultTaken) as raised:
        await start_experiment(rig.core, rival)
    assert str(raised.value) == (
        "spec.default: model 'a' is already taken over by experiment 'ab'; stop that "
        "experiment first, or leave spec.default out"
    )
    assert set(rig.state.experiments) == {"ab"}
    # The same experiment may keep its default while it changes; without a default, no clash.
    assert (
        await start_experiment(rig.core, experiment("ab", ("a", 2), ("b", 1), default="a"))
    ).changed
    assert (await start_experiment(rig.core, experiment("rival", ("a", 1), ("c", 1)))).changed
    await stop_experiment(rig.core, "ab")
    assert (await start_experiment(rig.core, rival)).changed


async def test_candidates_need_not_exist() -> None:
    rig = make_core()
    assert (await start_experiment(rig.core, AB)).changed
    assert rig.state.models == {}


async def test_route_table_carries_every_experiment() -> None:
    rig = make_core()
    assert experiment_routes(rig.core) == []
    mirrored = experiment("zz", ("a", 1), mirror=("m", 20))
    await start_experiment(rig.core, mirrored)
    await start_experiment(rig.core, AB)
    routes = experiment_routes(rig.core)
    assert [(r.spec.name, r.uid) for r in routes] == [("ab", 2), ("zz", 1)]
    assert [experiment_from_proto(r.spec) for r in routes] == [AB, mirrored]
    await start_experiment(rig.core, experiment("ab", ("a", 1), ("b", 1)))
    await stop_experiment(rig.core, "zz")
    assert [(r.spec.name, r.uid) for r in experiment_routes(rig.core)] == [("ab", 3)]


async def test_a_foreign_writer_makes_the_start_conflict() -> None:
    rig = make_core()
    await rig.store.put(keys.experiment_key("ab"), encode(ExperimentRecord(AB, 99)))
    with pytest.raises(Conflict):
        await start_experiment(rig.core, AB)
