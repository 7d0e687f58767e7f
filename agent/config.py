"""The agent's configuration: what `loadmaster agent` flags say, frozen once parsed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_CAPABILITIES = frozenset({"torch"})


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
