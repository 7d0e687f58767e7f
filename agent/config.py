"""The agent's configuration: what `loadmaster agent` flags say, frozen once parsed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_CAPABILITIES = frozenset({"torch"})
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


@dataclass(frozen=True, slots=True)
class AgentConfig:
    name: str
    http_port: int = 9000
    grpc_port: int = 9500
    host: str = "127.0.0.1"
    models_dir: Path | None = None
    cache_dir: Path = Path(".loadmaster-cache")
    memory_bytes: int = 4 * 2**30
    capabilities: frozenset[str] = DEFAULT_CAPABILITIES
    parallel_workers: int = 1
    scheduler: str | None = None
    max_body_bytes: int = 64 * 2**20
    load_timeout_s: float = 300.0
    pool: str = ""
    overcommit_percent: int = 0
    advertise_host: str | None = None
    drain_timeout_s: float = 60.0

    @property
    def advertised_host(self) -> str:
        """The host others reach this agent at: a wildcard listen address names no one, so
        it falls back to loopback (set `advertise_host` on a real network)."""
        if self.advertise_host:
            return self.advertise_host
        return "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host
