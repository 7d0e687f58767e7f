"""The `--json` shapes scripts read: fixed keys, camelCase, human sizes next to bytes."""

from __future__ import annotations

from loadmaster.client import model_status_json, server_json
from loadmaster.generated.scheduler.v1 import admin_pb2


def test_model_status_json() -> None:
    status = admin_pb2.ModelStatusResponse(
        name="iris",
        version=2,
        state="ModelProgressing",
        scheduling="Partial",
        desired_replicas=2,
        available_replicas=1,
        reason="needs 2Gi, largest free 1.5Gi",
        replicas=[
            admin_pb2.ReplicaStatus(server="a", state="Available", version=2, model="iris"),
            admin_pb2.ReplicaStatus(server="b", state="LoadFailed", version=2, reason="oom"),
        ],
        spec=admin_pb2.ModelSpec(name="iris", storage_uri="file:///m"),
    )
    assert model_status_json(status) == {
        "name": "iris",
        "version": 2,
        "state": "ModelProgressing",
        "scheduling": "Partial",
        "desiredReplicas": 2,
        "availableReplicas": 1,
        "reason": "needs 2Gi, largest free 1.5Gi",
        "replicas": [
            {"server": "a", "state": "Available", "version": 2, "reason": ""},
            {"server": "b", "state": "LoadFailed", "version": 2, "reason": "oom"},
        ],
    }


def test_model_status_json_of_an_empty_reply() -> None:
    assert list(model_status_json(admin_pb2.ModelStatusResponse())) == [
        "name",
        "version",
        "state",
        "scheduling",
        "desiredReplicas",
        "availableReplicas",
        "reason",
        "replicas",
    ]


def test_server_json() -> None:
    server = admin_pb2.ServerStatusResponse(
        name="gpu-1",
        state="Ready",
        pool="gpu-pool",
        http_endpoint="10.0.0.5:9000",
        grpc_endpoint="10.0.0.5:9500",
        memory_bytes=8 * 2**30,
        free_memory_bytes=3 * 2**29,
        parallel_workers=2,
        overcommit_percent=10,
        capabilities=["torch", "gpu"],
        gpus=[admin_pb2.GpuDevice(index=0, memory_bytes=16 * 2**30, free_bytes=2**30)],
        loaded=[
            admin_pb2.ReplicaStatus(server="gpu-1", model="iris", version=1, state="Available"),
            admin_pb2.ReplicaStatus(server="gpu-1", model="mlp", version=3, state="Loading"),
        ],
    )
    assert server_json(server) == {
        "name": "gpu-1",
        "state": "Ready",
        "pool": "gpu-pool",
        "endpoints": {"http": "10.0.0.5:9000", "grpc": "10.0.0.5:9500"},
        "capacity": {
            "memoryBytes": 8 * 2**30,
            "memory": "8Gi",
            "parallelWorkers": 2,
            "overcommitPercent": 10,
            "capabilities": ["gpu", "torch"],
            "gpus": [{"index": 0, "memoryBytes": 16 * 2**30, "freeBytes": 2**30}],
        },
        "freeMemoryBytes": 3 * 2**29,
        "freeMemory": "1.5Gi",
        "models": [
            {"model": "iris", "version": 1, "state": "Available"},
            {"model": "mlp", "version": 3, "state": "Loading"},
        ],
    }
