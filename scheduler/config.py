"""The scheduler's configuration: what `loadmaster scheduler` flags say, frozen once parsed."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.placement import DEFAULT_POLICY, PlacementPolicy

DEFAULT_ADMIN_PORT = 9004
DEFAULT_AGENT_PORT = 9005
DEFAULT_METRICS_PORT = 9006


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """`heartbeat_timeout_s`: an agent silent this long is Lost and its replicas move.

    `startup_grace_s`: after a start, how long to wait for known agents to re-register before
    placing anything, so a restart reloads nothing; None means one heartbeat timeout but at
    least 10 s (agents retry with back-off up to 5 s). A server known from the store is Lost
    only if it stays silent for the grace plus one heartbeat timeout.
    `metrics_port` 0 turns the metrics endpoint off.
    """

    store: str = "memory://"
    host: str = "127.0.0.1"
    admin_port: int = DEFAULT_ADMIN_PORT
    agent_port: int = DEFAULT_AGENT_PORT
    metrics_port: int = DEFAULT_METRICS_PORT
    heartbeat_interval_s: float = 1.0
    heartbeat_timeout_s: float = 5.0
    startup_grace_s: float | None = None
    reconcile_interval_s: float = 0.5
    policy: PlacementPolicy = DEFAULT_POLICY

    def __post_init__(self) -> None:
        if self.heartbeat_interval_s <= 0 or self.heartbeat_timeout_s <= self.heartbeat_interval_s:
            raise ValueError("the heartbeat timeout must be longer than the heartbeat interval")

    @property
    def grace_s(self) -> float:
        if self.startup_grace_s is None:
            return max(self.heartbeat_timeout_s, 10.0)
        return self.startup_grace_s
