"""The key layout: builders produce the documented keys, parsers recognise only their shape."""

from __future__ import annotations

import pytest

from scheduler.store import keys
from scheduler.store.keys import ReplicaKey


@pytest.mark.parametrize(
    "built,expected",
    [
        (keys.model_key("iris"), "models/iris"),
        (keys.model_version_key("iris", 3), "models/iris/versions/3"),
        (keys.model_versions_prefix("iris"), "models/iris/versions/"),
        (keys.server_key("gpu-0"), "servers/gpu-0"),
        (keys.replica_key("iris", 3, "gpu-0"), "replicas/iris/3/gpu-0"),
        (keys.replica_prefix(), "replicas/"),
        (keys.replica_prefix("iris"), "replicas/iris/"),
        (keys.replica_prefix("iris", 3), "replicas/iris/3/"),
    ],
)
def test_builders(built: str, expected: str) -> None:
    assert built == expected


PARSERS = {
    "models/iris": ("iris", None, None, None),
    "models/iris/versions/12": (None, ("iris", 12), None, None),
    "servers/gpu-0": (None, None, "gpu-0", None),
    "replicas/iris/2/gpu-0": (None, None, None, ReplicaKey("iris", 2, "gpu-0")),
    "models/iris/versions/0": (None, None, None, None),
    "models/iris/versions/x": (None, None, None, None),
    "models/iris/other/1": (None, None, None, None),
    "models/": (None, None, None, None),
    "replicas/iris/latest/gpu-0": (None, None, None, None),
    "replicas/iris/2": (None, None, None, None),
    "schema": (None, None, None, None),
}


@pytest.mark.parametrize("key,expected", list(PARSERS.items()))
def test_parsers_recognise_only_their_shape(key: str, expected: tuple[object, ...]) -> None:
    parsed = (
        keys.parse_model_key(key),
        keys.parse_model_version_key(key),
        keys.parse_server_key(key),
        keys.parse_replica_key(key),
    )
    assert parsed == expected


@pytest.mark.parametrize("name", ["", "a/b", ".", "..", "with space", "tab\there"])
def test_names_that_would_break_the_layout_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be a key segment"):
        keys.model_key(name)
    with pytest.raises(ValueError, match="cannot be a key segment"):
        keys.replica_key("m", 1, name)


@pytest.mark.parametrize("version", [0, -1, True])
def test_versions_start_at_one(version: int) -> None:
    with pytest.raises(ValueError, match="integers from 1"):
        keys.model_version_key("iris", version)


def test_a_versioned_replica_prefix_needs_the_model() -> None:
    with pytest.raises(ValueError, match="needs the model"):
        keys.replica_prefix(None, 1)
