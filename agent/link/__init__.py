"""The agent's side of the scheduler connection (`proto/agentapi/v1/agent.proto`)."""

from agent.link.backoff import Backoff
from agent.link.host import ModelHost, Registration
from agent.link.link import DRAIN_TIMED_OUT, DRAINED, UNREACHABLE, SchedulerLink

__all__ = [
    "DRAINED",
    "DRAIN_TIMED_OUT",
    "UNREACHABLE",
    "Backoff",
    "ModelHost",
    "Registration",
    "SchedulerLink",
]
