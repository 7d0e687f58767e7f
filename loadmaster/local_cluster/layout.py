"""Where a local cluster keeps its files: one data dir, the same layout every time.

    DIR/
      cluster.json        what `up` started: pids, ports, endpoints (see `record`)
      .lock               held by a running `loadmaster up`, so two cannot share DIR
      etcd/               etcd's data: models, versions, servers survive `down` and `up`
      agents/agent-1/     each agent's artifact cache (downloaded model files)
      logs/<part>.log     each part's stdout and stderr, appended across restarts

A fixed layout is what lets `up` on the same DIR bring back the same models: the scheduler
recovers them from `etcd/`, and agents with the same names find their caches again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_DATA_DIR = "LOADMASTER_DATA_DIR"
DEFAULT_DATA_DIR = ".loadmaster"
RECORD_FILE = "cluster.json"


def default_data_dir(environ: Mapping[str, str], cwd: Path) -> Path:
    """`$LOADMASTER_DATA_DIR`, else `./.loadmaster`; always absolute, so records stay valid
    whichever directory a later command runs from."""
    given = environ.get(ENV_DATA_DIR)
    path = Path(given).expanduser() if given else Path(DEFAULT_DATA_DIR)
    return path if path.is_absolute() else cwd / path


@dataclass(frozen=True, slots=True)
class DataDir:
    """The paths inside one cluster's data dir; `root` is absolute."""

    root: Path

    @property
    def record(self) -> Path:
        return self.root / RECORD_FILE

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def etcd(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, part: str) -> Path:
        return self.logs / f"{part}.log"

    def agent_cache(self, agent: str) -> Path:
        return self.root / "agents" / agent / "cache"

    def create(self, agents: tuple[str, ...]) -> None:
        """Make every directory the parts need. etcd refuses to start without its data dir's
        parent, and wants the data dir private (0700), as it holds the whole cluster state."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.etcd.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.etcd, 0o700)
        for agent in agents:
            self.agent_cache(agent).mkdir(parents=True, exist_ok=True)
