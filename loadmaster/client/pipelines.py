"""The pipeline calls of the admin client (docs/pipelines.md).

A pipeline is ready exactly when its steps' models are, so waiting for `PipelineReady` follows
the model status stream, as waiting for an experiment does, and asks for the pipeline's status
again only when one of its models changed. `PipelineFailed` ends a wait at once: it means the
references disagree with the models' declared tensors, which time does not mend.
"""

from __future__ import annotations

import time

from loadmaster.client.channel import AdminChannel
from loadmaster.client.errors import (
    InvalidSpec,
    PipelineStatus,
    PipelineWaitFailed,
    PipelineWaitTimeout,
)
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.resources import PipelineSpec, PipelineState, check_pipeline, pipeline_to_proto


class PipelineCalls(AdminChannel):
    def load_pipeline(self, spec: PipelineSpec) -> tuple[int, bool]:
        """Store `spec`, checked here first with the scheduler's own rules; the stored version
        and whether the spec changed (False when the scheduler already had exactly it)."""
        problems = check_pipeline(spec)
        if problems:
            raise InvalidSpec("INVALID_ARGUMENT", f"pipeline {spec.name}: " + "; ".join(problems))
        request = admin_pb2.LoadPipelineRequest(spec=pipeline_to_proto(spec))
        reply = self._call(self._stub.LoadPipeline, request)
        return reply.version, reply.changed

    def unload_pipeline(self, name: str) -> None:
        self._call(self._stub.UnloadPipeline, admin_pb2.UnloadPipelineRequest(name=name))

    def pipeline_status(self, name: str) -> PipelineStatus:
        request = admin_pb2.PipelineStatusRequest(name=name)
        return self._call(self._stub.PipelineStatus, request)

    def list_pipelines(self) -> list[PipelineStatus]:
        reply = self._call(self._stub.ListPipelines, admin_pb2.ListPipelinesRequest())
        return list(reply.pipelines)

    def wait_pipeline_ready(self, name: str, timeout_s: float) -> PipelineStatus:
        """The pipeline's status once it is `PipelineReady`.

        `PipelineWaitTimeout` (a `WaitTimeout`) carries the last status and its reason when
        `timeout_s` runs out; `PipelineWaitFailed` (a `WaitFailed`) as soon as it is
        `PipelineFailed`; `NotFound` if the pipeline is (or gets) unloaded.
        """
        deadline = time.monotonic() + timeout_s

        def timed_out(last: PipelineStatus) -> PipelineWaitTimeout:
            reason = f" ({last.reason})" if last.reason else ""
            return PipelineWaitTimeout(
                f"pipeline {name} was not {PipelineState.READY} within {timeout_s:g}s; "
                f"last state {last.state or 'unknown'}{reason}",
                last,
            )

        return self._wait_following_models(
            deadline,
            lambda: self._ready_or_failed(self.pipeline_status(name)),
            lambda status: status.state == PipelineState.READY,
            lambda status: {step.model for step in status.spec.steps},
            timed_out,
        )

    @staticmethod
    def _ready_or_failed(status: PipelineStatus) -> PipelineStatus:
        if status.state == PipelineState.FAILED:
            raise PipelineWaitFailed(
                f"pipeline {status.name} is {status.state}: {status.reason}", status
            )
        return status
