"""Pipelines as gateways and pipeline workers hold them: one frozen entry per route-table row."""

from __future__ import annotations

from dataclasses import dataclass

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.resources.pipeline_spec import PipelineSpec, pipeline_from_proto

READY = "PipelineReady"


@dataclass(frozen=True, slots=True)
class PipelineEntry:
    """A loaded pipeline: its spec, version, and state with the reason (for a 503)."""

    spec: PipelineSpec
    version: int
    state: str
    reason: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ready(self) -> bool:
        return self.state == READY

    def why_unavailable(self) -> str:
        return f"{self.state}: {self.reason}" if self.reason else self.state

    @classmethod
    def from_proto(cls, msg: pb.PipelineRoute) -> PipelineEntry:
        """Raises ValueError for a spec the scheduler should never have accepted."""
        return cls(pipeline_from_proto(msg.spec), msg.version, msg.state, msg.reason)
