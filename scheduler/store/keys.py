"""The key layout of the scheduler's state, relative to the store root.

    models/<name>                         desired spec and current version number
    models/<name>/versions/<n>            the spec of version n (n >= 1)
    servers/<name>                        a server's registration, as observed
    replicas/<model>/<version>/<server>   one replica's observed state
    experiments/<name>                    an experiment's spec and uid
    counters/experiment-uid               the last experiment uid handed out
    pipelines/<name>                      a pipeline's spec and version

Desired state (models, experiments, pipelines) and observed state (servers, replicas) sit under
separate prefixes so each can be listed and watched on its own. Builders validate names, because
a name holding "/" would silently move a record into another record's place; parsers return None
for keys of another shape, so a listing of ``models/`` can tell a model from one of its
versions. Listing order is by key, so version numbers sort as text ("10" before "2"): sort
numerically after parsing.
"""

from __future__ import annotations

from dataclasses import dataclass

MODELS = "models/"
SERVERS = "servers/"
REPLICAS = "replicas/"
EXPERIMENTS = "experiments/"
EXPERIMENT_UID_KEY = "counters/experiment-uid"
PIPELINES = "pipelines/"
_VERSIONS = "versions"


@dataclass(frozen=True, slots=True)
class ReplicaKey:
    model: str
    version: int
    server: str


def check_name(name: str) -> str:
    """A model or server name that is safe as one key segment."""
    if not name or name in (".", "..") or "/" in name or not name.isprintable() or " " in name:
        raise ValueError(f"{name!r} cannot be a key segment: use a non-empty name without '/'")
    return name


def check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"model versions are integers from 1, got {version!r}")
    return version


def model_key(name: str) -> str:
    return f"{MODELS}{check_name(name)}"


def model_versions_prefix(name: str) -> str:
    return f"{model_key(name)}/{_VERSIONS}/"


def model_version_key(name: str, version: int) -> str:
    return f"{model_versions_prefix(name)}{check_version(version)}"


def server_key(name: str) -> str:
    return f"{SERVERS}{check_name(name)}"


def replica_prefix(model: str | None = None, version: int | None = None) -> str:
    """Replicas of every model, of one model, or of one model version."""
    if model is None:
        if version is not None:
            raise ValueError("a replica prefix with a version needs the model too")
        return REPLICAS
    prefix = f"{REPLICAS}{check_name(model)}/"
    return prefix if version is None else f"{prefix}{check_version(version)}/"


def replica_key(model: str, version: int, server: str) -> str:
    return f"{replica_prefix(model, version)}{check_name(server)}"


def experiment_key(name: str) -> str:
    return f"{EXPERIMENTS}{check_name(name)}"


def parse_experiment_key(key: str) -> str | None:
    parts = _segments(key, EXPERIMENTS, 1)
    return parts[0] if parts else None


def pipeline_key(name: str) -> str:
    return f"{PIPELINES}{check_name(name)}"


def parse_pipeline_key(key: str) -> str | None:
    parts = _segments(key, PIPELINES, 1)
    return parts[0] if parts else None


def parse_model_key(key: str) -> str | None:
    """The model name of a ``models/<name>`` key, None for any other key."""
    parts = _segments(key, MODELS, 1)
    return parts[0] if parts else None


def parse_model_version_key(key: str) -> tuple[str, int] | None:
    parts = _segments(key, MODELS, 3)
    if parts is None or parts[1] != _VERSIONS:
        return None
    version = _version(parts[2])
    return None if version is None else (parts[0], version)


def parse_server_key(key: str) -> str | None:
    parts = _segments(key, SERVERS, 1)
    return parts[0] if parts else None


def parse_replica_key(key: str) -> ReplicaKey | None:
    parts = _segments(key, REPLICAS, 3)
    version = None if parts is None else _version(parts[1])
    if parts is None or version is None:
        return None
    return ReplicaKey(parts[0], version, parts[2])


def _segments(key: str, prefix: str, count: int) -> list[str] | None:
    if not key.startswith(prefix):
        return None
    parts = key.removeprefix(prefix).split("/")
    return parts if len(parts) == count and all(parts) else None


def _version(text: str) -> int | None:
    return int(text) if text.isdigit() and text.isascii() and int(text) >= 1 else None
