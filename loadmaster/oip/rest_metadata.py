"""REST JSON bodies of the non-inference endpoints: errors, metadata and the repository index.

Field names follow the OIP REST specification so the KServe and Triton clients parse them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from loadmaster.oip.types import ModelMetadata, RepositoryEntry, ServerMetadata, TensorSpec


def error_body(message: str) -> bytes:
    """`{"error": message}`, the one error shape every OIP REST client understands."""
    return orjson.dumps({"error": message})


def _spec_json(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype.value, "shape": list(spec.shape)}


def model_metadata_json(m: ModelMetadata) -> bytes:
    """`GET /v2/models/{name}[/versions/{v}]`: `parameters` only when the model has any."""
    doc: dict[str, Any] = {
        "name": m.name,
        "versions": list(m.versions),
        "platform": m.platform,
        "inputs": [_spec_json(spec) for spec in m.inputs],
        "outputs": [_spec_json(spec) for spec in m.outputs],
    }
    if m.parameters:
        doc["parameters"] = dict(m.parameters)
    return orjson.dumps(doc)


def server_metadata_json(s: ServerMetadata) -> bytes:
    """`GET /v2`."""
    return orjson.dumps({"name": s.name, "version": s.version, "extensions": list(s.extensions)})


def repository_index_json(entries: Iterable[RepositoryEntry]) -> bytes:
    """`POST /v2/repository/index`: a JSON list, one object per model version."""
    return orjson.dumps(
        [
            {"name": e.name, "version": e.version, "state": e.state, "reason": e.reason}
            for e in entries
        ]
    )
