"""TopicKeeper: a pipeline's topics exist before anyone uses them, and go when it goes.

Why a keeper: topics must be created with the configured partition count before a producer
writes to them, since a broker that auto-creates a topic on first write uses its own default
count, and then one request's records would no longer share a partition number across topics
(the dataflow worker's joins rely on that). Whoever needs a pipeline's topics ensures them
first (creating is idempotent, so gateways and workers may race); dataflow workers retire the
topics of pipelines that left the route table.

What is retired (pipeline contracts, "Topics"): a pipeline that left loses its own inputs and
outputs topics unless its spec set `keep_topics`; a model's topics go only when no pipeline
still in the table uses the model and no departing `keep_topics` pipeline used it. The errors
topic is shared by every pipeline and is never deleted. A pipeline still in the table whose
spec dropped a model is treated the same way for that model: its topics go once nothing uses
them (unless the old spec set `keep_topics`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.pipeline.table import PipelineEntry
from loadmaster.kafka.bus import Admin
from loadmaster.kafka.topics import Topics
from loadmaster.logs import get_logger
from loadmaster.resources.pipeline_spec import PipelineSpec

log = get_logger("gateway.pipeline.topics")

Pipelines = Mapping[str, PipelineEntry]


class TopicKeeper:
    """Creates and deletes pipeline topics through an `Admin`; remembers what it created, so
    ensuring an unchanged pipeline again costs no broker call."""

    def __init__(self, admin: Admin, topics: Topics, partitions: int, replication: int) -> None:
        self._admin = admin
        self._topics = topics
        self._partitions = partitions
        self._replication = replication
        self._made: set[str] = set()

    async def ensure(self, spec: PipelineSpec) -> None:
        """Create every topic `spec`'s requests pass through (raises BusError if the broker
        refuses); only topics not made by this keeper before are asked for."""
        wanted = [
            t for t in self._topics.of_pipeline(spec.name, spec.models) if t not in self._made
        ]
        if not wanted:
            return
        await self._admin.create_topics(wanted, self._partitions, self._replication)
        self._made.update(wanted)
        log.info("pipeline topics ensured", pipeline=spec.name, topics=wanted)

    def retired_topics(self, before: Pipelines, after: Pipelines) -> tuple[str, ...]:
        """The topics to delete when the table changes from `before` to `after`, sorted."""
        gone = [e.spec for name, e in before.items() if name not in after]
        doomed: set[str] = set()
        for spec in gone:
            if not spec.keep_topics:
                doomed |= {
                    self._topics.pipeline_inputs(spec.name),
                    self._topics.pipeline_outputs(spec.name),
                }
        still_used = _models(e.spec for e in after.values())
        kept = _models(e.spec for e in before.values() if e.spec.keep_topics)
        for model in _models(e.spec for e in before.values()) - still_used - kept:
            doomed |= {self._topics.model_inputs(model), self._topics.model_outputs(model)}
        doomed.discard(self._topics.errors)
        return tuple(sorted(doomed))

    async def retire(self, before: Pipelines, after: Pipelines) -> None:
        """Delete the topics `retired_topics` names (raises BusError if the broker refuses)."""
        self.forget(before, after)
        doomed = self.retired_topics(before, after)
        if not doomed:
            return
        await self._admin.delete_topics(doomed)
        log.info("pipeline topics deleted", topics=list(doomed))

    def forget(self, before: Pipelines, after: Pipelines) -> None:
        """Forget having made the topics of pipelines that left or changed, so ensuring them
        again asks the broker (another process may have deleted them meanwhile). A process
        that does not `retire` calls this on each table instead."""
        for name, entry in before.items():
            if name in after and after[name].spec == entry.spec:
                continue
            spec = entry.spec
            self._made.difference_update(self._topics.of_pipeline(spec.name, spec.models))


def _models(specs: Iterable[PipelineSpec]) -> set[str]:
    return {model for spec in specs for model in spec.models}
