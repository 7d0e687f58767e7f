"""Admin replies as plain JSON-ready dicts: the stable shape behind `--json` and scripts.

The keys are camelCase, as in the resources users write, and fixed here rather than produced by
`MessageToDict`, so a new proto field does not silently change what scripts read.
"""

from __future__ import annotations

from typing import Any

from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.units import format_memory

JsonDict = dict[str, Any]


def model_status_json(resp: admin_pb2.ModelStatusResponse) -> JsonDict:
    return {
        "name": resp.name,
        "version": resp.version,
        "state": resp.state,
        "scheduling": resp.scheduling,
        "desiredReplicas": resp.desired_replicas,
        "availableReplicas": resp.available_replicas,
        "reason": resp.reason,
        "replicas": [
            {"server": r.server, "state": r.state, "version": r.version, "reason": r.reason}
            for r in resp.replicas
        ],
    }


def server_json(resp: admin_pb2.ServerStatusResponse) -> JsonDict:
    return {
        "name": resp.name,
        "state": resp.state,
        "pool": resp.pool,
        "endpoints": {"http": resp.http_endpoint, "grpc": resp.grpc_endpoint},
        "capacity": {
            "memoryBytes": resp.memory_bytes,
            "memory": format_memory(resp.memory_bytes),
            "parallelWorkers": resp.parallel_workers,
            "overcommitPercent": resp.overcommit_percent,
            "capabilities": sorted(resp.capabilities),
            "gpus": [
                {"index": g.index, "memoryBytes": g.memory_bytes, "freeBytes": g.free_bytes}
                for g in resp.gpus
            ],
        },
        "freeMemoryBytes": resp.free_memory_bytes,
        "freeMemory": format_memory(resp.free_memory_bytes),
        "models": [{"model": r.model, "version": r.version, "state": r.state} for r in resp.loaded],
    }


def experiment_status_json(resp: admin_pb2.ExperimentStatusResponse) -> JsonDict:
    """`mirror` is null without one; shares are fractions (0.5), not percentages."""
    spec = resp.spec
    mirror: JsonDict | None = None
    if resp.HasField("mirror"):
        fields = _candidate_json(resp.mirror)
        del fields["weight"]
        mirror = {"model": fields.pop("model"), "percent": spec.mirror.percent, **fields}
    return {
        "name": resp.name,
        "uid": resp.uid,
        "state": resp.state,
        "reason": resp.reason,
        "default": spec.default_model,
        "totalRequests": resp.total_requests,
        "candidates": [_candidate_json(c) for c in resp.candidates],
        "mirror": mirror,
    }


def _candidate_json(c: admin_pb2.CandidateStatus) -> JsonDict:
    return {
        "model": c.model,
        "weight": c.weight,
        "modelState": c.model_state,
        "ready": c.ready,
        "requests": c.requests,
        "expectedShare": c.expected_share,
        "observedShare": c.observed_share,
    }
