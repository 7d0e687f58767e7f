"""The stored record of a pipeline: desired state, like models and experiments.

Why a version next to the spec: gateways and pipeline workers hold the pipeline they run and
must tell a changed spec from the one they have, and status shows which spec is live. The
version is 1 on the first load and one more on every change of the spec; loading an identical
spec keeps it. Unloading deletes the record, so a pipeline loaded again later starts at 1:
requests are joined by their own uuid, never by version, so a reused number mixes nothing.

The spec is stored as the frozen `PipelineSpec` itself (enums as their words, tensor maps as
sorted pairs), and `scheduler.store.codec` rebuilds it exactly: equal specs compare equal after
a restart, so an identical load after a restart is still "no change".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from loadmaster.resources.pipeline_spec import PipelineSpec


@dataclass(frozen=True, slots=True)
class PipelineRecord:
    RECORD_KIND: ClassVar[str] = "Pipeline"

    spec: PipelineSpec
    version: int

    @property
    def name(self) -> str:
        return self.spec.name
