"""load_pipeline and unload_pipeline: versions, stored records, restarts, the route table."""

from __future__ import annotations

import json

import pytest

from loadmaster.resources.pipeline_check import check_pipeline
from loadmaster.resources.pipeline_spec import (
    JoinType,
    PipelineOutput,
    PipelineSpec,
    PipelineStep,
    pipeline_from_proto,
)
from scheduler.cluster import ClusterState
from scheduler.model_admin import InvalidSpec
from scheduler.pipeline_admin import Loaded, UnknownPipeline, load_pipeline, unload_pipeline
from scheduler.pipeline_records import PipelineRecord
from scheduler.pipeline_views import pipeline_routes
from scheduler.store import Conflict, decode, encode, keys
from tests.scheduler.fakes import make_core, pipeline, step

CHAIN = pipeline("chain", step("a"), step("b", "m", "a.outputs.y"))
# Every field away from its default: enums, tensor maps, triggers, windows, keep_topics.
FULL = PipelineSpec(
    name="full",
    steps=(
        PipelineStep("a", "ma"),
        PipelineStep("choose", "router", inputs=("pipeline.inputs.x",)),
        PipelineStep(
            "b",
            "mb",
            inputs=("a.outputs.y", "pipeline.inputs.x"),
            tensor_map=(("a.outputs.y", "y2"), ("pipeline.inputs.x", "x2")),
            inputs_join=JoinType.OUTER,
            join_window_ms=500,
            triggers=("choose.outputs.go",),
            triggers_join=JoinType.ANY,
        ),
    ),
    output=PipelineOutput(
        steps=("b", "a.outputs.y"),
        tensor_map=(("a.outputs.y", "answer"),),
        steps_join=JoinType.ANY,
        join_window_ms=250,
    ),
    keep_topics=True,
)


def test_the_full_spec_is_valid() -> None:
    assert check_pipeline(FULL) == []


def test_a_record_round_trips_through_the_codec_exactly() -> None:
    record = PipelineRecord(FULL, 7)
    raw = encode(record)
    again = decode(raw, PipelineRecord)
    assert again == record
    b = again.spec.steps[2]
    assert (type(b.inputs_join), type(b.triggers_join)) == (JoinType, JoinType)
    assert (b.inputs_join, b.triggers_join) == (JoinType.OUTER, JoinType.ANY)
    assert type(again.spec.steps) is tuple and type(b.tensor_map[0]) is tuple
    assert again.spec.output.steps_join is JoinType.ANY
    assert encode(again) == raw  # deterministic: an unchanged record re-encodes the same
    stored = json.loads(raw)  # readable with etcdctl: join words, sorted pairs
    assert (stored["kind"], stored["data"]["version"]) == ("Pipeline", 7)
    assert stored["data"]["spec"]["steps"][2]["inputs_join"] == "outer"
    assert stored["data"]["spec"]["steps"][2]["tensor_map"] == [
        ["a.outputs.y", "y2"],
        ["pipeline.inputs.x", "x2"],
    ]


async def test_load_stores_and_wakes_route_subscribers() -> None:
    rig = make_core()
    generation = rig.core.changes.generation
    assert await load_pipeline(rig.core, CHAIN) == Loaded(1, True)
    assert rig.state.pipelines == {"chain": PipelineRecord(CHAIN, 1)}
    assert rig.core.changes.generation == generation + 1
    stored = await rig.store.get(keys.pipeline_key("chain"))
    assert stored is not None
    assert decode(stored.value, PipelineRecord) == PipelineRecord(CHAIN, 1)


async def test_identical_load_changes_nothing_and_a_change_makes_the_next_version() -> None:
    rig = make_core()
    await load_pipeline(rig.core, CHAIN)
    revision, generation = rig.store.revision, rig.core.changes.generation
    assert await load_pipeline(rig.core, CHAIN) == Loaded(1, False)
    assert (rig.store.revision, rig.core.changes.generation) == (revision, generation)
    changed = pipeline("chain", step("a"), step("b", "other", "a.outputs.y"))
    assert await load_pipeline(rig.core, changed) == Loaded(2, True)
    assert await load_pipeline(rig.core, CHAIN) == Loaded(3, True)  # back again is a change too
    assert rig.state.pipelines["chain"] == PipelineRecord(CHAIN, 3)
    assert rig.core.changes.generation == generation + 2


async def test_recovered_after_a_restart_with_the_same_version() -> None:
    rig = make_core()
    await load_pipeline(rig.core, FULL)
    await load_pipeline(rig.core, CHAIN)
    await load_pipeline(rig.core, pipeline("chain", step("a"), step("b", "n", "a.outputs.y")))
    recovered = await ClusterState.load(rig.store)
    assert recovered.pipelines == rig.state.pipelines
    assert recovered.pipelines["chain"].version == 2
    restarted = make_core(store=rig.store, state=recovered)
    assert await load_pipeline(restarted.core, FULL) == Loaded(1, False)
    assert await load_pipeline(restarted.core, CHAIN) == Loaded(3, True)
    await unload_pipeline(restarted.core, "full")
    assert set((await ClusterState.load(rig.store)).pipelines) == {"chain"}


async def test_unload() -> None:
    rig = make_core()
    await load_pipeline(rig.core, CHAIN)
    generation = rig.core.changes.generation
    await unload_pipeline(rig.core, "chain")
    assert rig.state.pipelines == {}
    assert rig.core.changes.generation == generation + 1
    assert await rig.store.get(keys.pipeline_key("chain")) is None
    with pytest.raises(UnknownPipeline, match="pipeline 'chain' not found"):
        await unload_pipeline(rig.core, "chain")
    assert await load_pipeline(rig.core, CHAIN) == Loaded(1, True)  # a fresh start


async def test_invalid_spec_is_refused_with_every_problem_before_anything_is_written() -> None:
    rig = make_core()
    revision = rig.store.revision
    bad = pipeline("bad", step("a", "m", "zz.outputs"), step("a"))
    with pytest.raises(InvalidSpec) as raised:
        await load_pipeline(rig.core, bad)
    assert str(raised.value) == (
        "spec.steps[0].inputs[0]: 'zz.outputs' names no step 'zz' (steps: a, a, or "
        "pipeline.inputs); spec.steps[1].name: duplicate step 'a' (also spec.steps[0])"
    )
    assert (rig.store.revision, rig.state.pipelines) == (revision, {})


async def test_models_need_not_exist() -> None:
    rig = make_core()
    assert (await load_pipeline(rig.core, CHAIN)).changed
    assert rig.state.models == {}


async def test_route_table_carries_every_pipeline_sorted_by_name() -> None:
    rig = make_core()
    assert pipeline_routes(rig.core) == []
    await load_pipeline(rig.core, FULL)
    await load_pipeline(rig.core, CHAIN)
    routes = pipeline_routes(rig.core)
    assert [(r.spec.name, r.version, r.state) for r in routes] == [
        ("chain", 1, "PipelineWaiting"),
        ("full", 1, "PipelineWaiting"),
    ]
    assert [pipeline_from_proto(r.spec) for r in routes] == [CHAIN, FULL]
    assert routes[0].reason == "waiting for models: a (not loaded), m (not loaded)"
    await unload_pipeline(rig.core, "full")
    assert [r.spec.name for r in pipeline_routes(rig.core)] == ["chain"]


async def test_a_foreign_writer_makes_the_load_conflict() -> None:
    rig = make_core()
    await rig.store.put(keys.pipeline_key("chain"), encode(PipelineRecord(CHAIN, 99)))
    with pytest.raises(Conflict):
        await load_pipeline(rig.core, CHAIN)


def test_pipeline_keys() -> None:
    assert keys.pipeline_key("chain") == "pipelines/chain"
    assert keys.parse_pipeline_key("pipelines/chain") == "chain"
    assert keys.parse_pipeline_key("pipelines/chain/x") is None
    assert keys.parse_pipeline_key("experiments/chain") is None
    with pytest.raises(ValueError, match="cannot be a key segment"):
        keys.pipeline_key("a/b")
