"""TopicKeeper on MemoryBus: which topics a pipeline gets, and which go when tables change."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import pytest

from gateway.pipeline.table import READY, PipelineEntry
from gateway.pipeline.topic_keeper import TopicKeeper
from loadmaster.kafka.bus import BusError
from loadmaster.kafka.memory_bus import MemoryAdmin, MemoryBus
from loadmaster.kafka.topics import Topics
from loadmaster.resources.pipeline_spec import PipelineSpec, PipelineStep

TOPICS = Topics("lm", "ns")
PARTITIONS = 3


class CountingAdmin(MemoryAdmin):
    """MemoryAdmin that records every call and can refuse the next ones."""

    def __init__(self, bus: MemoryBus) -> None:
        super().__init__(bus)
        self.created: list[list[str]] = []
        self.deleted: list[list[str]] = []
        self.refuse = 0

    def _maybe_refuse(self) -> None:
        if self.refuse:
            self.refuse -= 1
            raise BusError("cannot reach Kafka at 127.0.0.1:1: refused")

    async def create_topics(
        self, names: Collection[str], partitions: int, replication: int
    ) -> None:
        self._maybe_refuse()
        self.created.append(sorted(names))
        await super().create_topics(names, partitions, replication)

    async def delete_topics(self, names: Collection[str]) -> None:
        self._maybe_refuse()
        self.deleted.append(sorted(names))
        await super().delete_topics(names)


@dataclass
class Rig:
    bus: MemoryBus = field(default_factory=MemoryBus)

    def __post_init__(self) -> None:
        self.admin = CountingAdmin(self.bus)
        self.keeper = TopicKeeper(self.admin, TOPICS, PARTITIONS, 1)


def spec(name: str, *models: str, keep: bool = False) -> PipelineSpec:
    steps = tuple(PipelineStep(name=f"s{i}", model=m) for i, m in enumerate(models))
    return PipelineSpec(name=name, steps=steps, keep_topics=keep)


def table(*specs: PipelineSpec) -> dict[str, PipelineEntry]:
    return {s.name: PipelineEntry(s, 1, READY, "") for s in specs}


def pipeline_topics(name: str) -> set[str]:
    return {TOPICS.pipeline_inputs(name), TOPICS.pipeline_outputs(name)}


def model_topics(*models: str) -> set[str]:
    return {t for m in models for t in (TOPICS.model_inputs(m), TOPICS.model_outputs(m))}


# ---- ensure ---------------------------------------------------------------------------------


async def test_ensure_creates_every_topic_of_the_pipeline_with_the_partition_count() -> None:
    rig = Rig()
    await rig.keeper.ensure(spec("p", "a", "b", "a"))
    expected = pipeline_topics("p") | model_topics("a", "b") | {TOPICS.errors}
    assert set(rig.bus.topics) == expected
    assert all(len(parts) == PARTITIONS for parts in rig.bus.topics.values())


async def test_ensuring_an_unchanged_pipeline_again_asks_the_broker_nothing() -> None:
    rig = Rig()
    await rig.keeper.ensure(spec("p", "a"))
    await rig.keeper.ensure(spec("p", "a"))
    assert len(rig.admin.created) == 1


async def test_a_second_pipeline_asks_only_for_the_topics_it_adds() -> None:
    rig = Rig()
    await rig.keeper.ensure(spec("p", "a"))
    await rig.keeper.ensure(spec("q", "a", "b"))
    assert rig.admin.created[1] == sorted(pipeline_topics("q") | model_topics("b"))


async def test_a_refused_create_is_asked_again_next_time() -> None:
    rig = Rig()
    rig.admin.refuse = 1
    with pytest.raises(BusError, match="cannot reach Kafka"):
        await rig.keeper.ensure(spec("p", "a"))
    await rig.keeper.ensure(spec("p", "a"))
    assert TOPICS.model_inputs("a") in rig.bus.topics


async def test_topics_retired_elsewhere_are_made_again_after_forget() -> None:
    rig = Rig()
    await rig.keeper.ensure(spec("p", "a"))
    rig.bus.topics.clear()  # a dataflow worker in another process retired them
    rig.keeper.forget(table(spec("p", "a")), table())
    await rig.keeper.ensure(spec("p", "a"))
    assert TOPICS.pipeline_inputs("p") in rig.bus.topics


async def test_forget_keeps_what_unchanged_pipelines_made() -> None:
    rig = Rig()
    await rig.keeper.ensure(spec("p", "a"))
    rig.keeper.forget(table(spec("p", "a")), table(spec("p", "a")))
    await rig.keeper.ensure(spec("p", "a"))
    assert len(rig.admin.created) == 1


async def test_retire_then_reload_makes_the_topics_again() -> None:
    rig = Rig()
    await rig.keeper.ensure(spec("p", "a"))
    await rig.keeper.retire(table(spec("p", "a")), table())
    await rig.keeper.ensure(spec("p", "a"))
    assert set(rig.bus.topics) == pipeline_topics("p") | model_topics("a") | {TOPICS.errors}


# ---- retire ---------------------------------------------------------------------------------

RETIRE_CASES = [
    pytest.param(
        [spec("p", "a")], [], pipeline_topics("p") | model_topics("a"), id="last-user-leaves"
    ),
    pytest.param(
        [spec("p", "a"), spec("q", "a", "b")],
        [spec("q", "a", "b")],
        pipeline_topics("p"),
        id="model-still-used-by-another",
    ),
    pytest.param([spec("p", "a", keep=True)], [], set(), id="keep-topics-keeps-everything"),
    pytest.param(
        [spec("p", "a", keep=True), spec("q", "a", "b")],
        [],
        pipeline_topics("q") | model_topics("b"),
        id="keep-topics-pipeline-protects-shared-model",
    ),
    pytest.param(
        [spec("p", "a"), spec("q", "b")],
        [spec("q", "b"), spec("r", "a")],
        pipeline_topics("p"),
        id="model-used-by-a-new-pipeline",
    ),
    pytest.param([spec("p", "a")], [spec("p", "a")], set(), id="nothing-left"),
    pytest.param(
        [spec("p", "a", "b")], [spec("p", "a")], model_topics("b"), id="changed-spec-drops-model"
    ),
    pytest.param(
        [spec("p", "a", "b", keep=True)], [spec("p", "a")], set(), id="changed-keep-topics-spec"
    ),
    pytest.param(
        [spec("p", "a"), spec("q", "b")],
        [],
        pipeline_topics("p") | pipeline_topics("q") | model_topics("a", "b"),
        id="everything-leaves",
    ),
]


@pytest.mark.parametrize(("before", "after", "deleted"), RETIRE_CASES)
async def test_retire_deletes_exactly_the_unused_topics(
    before: list[PipelineSpec], after: list[PipelineSpec], deleted: set[str]
) -> None:
    rig = Rig()
    for s in before + after:
        await rig.keeper.ensure(s)
    made = set(rig.bus.topics)
    await rig.keeper.retire(table(*before), table(*after))
    assert made - set(rig.bus.topics) == deleted
    assert TOPICS.errors in rig.bus.topics  # shared by every pipeline: never deleted
    assert rig.admin.deleted == ([sorted(deleted)] if deleted else [])


async def test_a_refused_delete_raises_for_the_caller_to_retry() -> None:
    rig = Rig()
    await rig.keeper.ensure(spec("p", "a"))
    rig.admin.refuse = 1
    with pytest.raises(BusError):
        await rig.keeper.retire(table(spec("p", "a")), table())
    await rig.keeper.retire(table(spec("p", "a")), table())
    assert set(rig.bus.topics) == {TOPICS.errors}
