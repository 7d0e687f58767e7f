"""The client SDK: the scheduler's admin API for the CLI, scripts and tests."""

from loadmaster.client.admin import (
    DEFAULT_SCHEDULER,
    ENV_SCHEDULER,
    AdminClient,
    AdminError,
    ExperimentWaitTimeout,
    InvalidSpec,
    NotFound,
    PipelineWaitFailed,
    PipelineWaitTimeout,
    SpecConflict,
    Unreachable,
    WaitFailed,
    WaitTimeout,
)
from loadmaster.client.pipeline_views import pipeline_status_json
from loadmaster.client.views import experiment_status_json, model_status_json, server_json

__all__ = [
    "DEFAULT_SCHEDULER",
    "ENV_SCHEDULER",
    "AdminClient",
    "AdminError",
    "ExperimentWaitTimeout",
    "InvalidSpec",
    "NotFound",
    "PipelineWaitFailed",
    "PipelineWaitTimeout",
    "SpecConflict",
    "Unreachable",
    "WaitFailed",
    "WaitTimeout",
    "experiment_status_json",
    "model_status_json",
    "pipeline_status_json",
    "server_json",
]
