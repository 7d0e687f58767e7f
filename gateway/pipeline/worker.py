"""What a pipeline worker offers the process that runs it (`worker_main`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.pipeline.table import PipelineEntry


class PipelineWorker(Protocol):
    """A consumer-group member that runs pipelines: the model worker or the dataflow worker.

    `set_pipelines` is called with every route table (all loaded pipelines, any state); the
    worker changes its subscription to the topics of those pipelines. `run` consumes until
    cancelled; `close` leaves the group so its partitions move to the other members at once.
    """

    def set_pipelines(self, pipelines: Mapping[str, PipelineEntry]) -> None: ...

    async def run(self) -> None: ...

    async def close(self) -> None: ...
