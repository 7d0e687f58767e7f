"""The `spec` of a Model document (brief §2) read into a `ModelSpec`, every problem collected.

Defaults are Kubernetes-like: `replicas: 1`, `minReplicas: min(1, replicas)`, `maxReplicas: 0`
(no ceiling). The spec is finished with `check_spec`, the rules the scheduler applies too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadmaster.resources import yaml_fields as f
from loadmaster.resources.model_spec import ModelSpec, check_spec

SPEC_FIELDS = (
    "storageUri",
    "requirements",
    "memory",
    "gpuMemory",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "server",
    "parameters",
    "instances",
)


def parse_model_spec(name: str, raw: Mapping[Any, Any], fields: f.Fields) -> ModelSpec:
    fields.unknown(raw, SPEC_FIELDS, "spec.")
    get = f.Getter(raw, fields)
    storage_uri = get("storageUri", f.string, "")
    if "storageUri" not in raw or raw["storageUri"] is None:
        fields.problem("spec.storageUri", "required")
    replicas = get("replicas", f.count, 1)
    spec = ModelSpec(
        name=name,
        storage_uri=storage_uri,
        memory_bytes=get("memory", f.quantity, 0),
        gpu_memory_bytes=get("gpuMemory", f.quantity, 0),
        replicas=replicas,
        min_replicas=get("minReplicas", f.count, max(0, min(1, replicas))),
        max_replicas=get("maxReplicas", f.count, 0),
        requirements=get("requirements", f.strings, frozenset[str]()),
        server=get("server", f.string, ""),
        parameters=tuple(get("parameters", f.parameters, dict[str, str]()).items()),
        instances=get("instances", f.count, 0),
    )
    fields.add_checks(check_spec(spec))
    return spec
