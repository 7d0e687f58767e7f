"""The client SDK: the scheduler's admin API for the CLI, scripts and tests."""

from loadmaster.client.admin import (
    DEFAULT_SCHEDULER,
    ENV_SCHEDULER,
    AdminClient,
    AdminError,
    InvalidSpec,
    NotFound,
    Unreachable,
    WaitFailed,
    WaitTimeout,
)
from loadmaster.client.views import model_status_json, server_json

__all__ = [
    "DEFAULT_SCHEDULER",
    "ENV_SCHEDULER",
    "AdminClient",
    "AdminError",
    "InvalidSpec",
    "NotFound",
    "Unreachable",
    "WaitFailed",
    "WaitTimeout",
    "model_status_json",
    "server_json",
]
