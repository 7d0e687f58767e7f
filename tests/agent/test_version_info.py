"""VersionInfo: what the scheduler link learns of a version, its declared signature included."""

from __future__ import annotations

from agent.models import ModelVersion
from agent.workers.messages import Loaded
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.types import TensorSpec
from loadmaster.replica_state import ReplicaState, ReplicaStatus

S = ReplicaState
INPUTS = (TensorSpec("x", DataType.FP32, (-1, 4)),)
OUTPUTS = (TensorSpec("y", DataType.INT64, (-1,)),)


def loaded() -> Loaded:
    return Loaded(
        platform="torch",
        inputs=INPUTS,
        outputs=OUTPUTS,
        max_batch_size=8,
        max_batch_time_ms=2.0,
        default_parameters={},
        device="cpu",
        deserialize_s=0.1,
        to_device_s=0.0,
        warmup_s=0.0,
        rss_bytes=100,
        cuda_bytes=0,
    )


def test_a_loaded_version_declares_its_signature() -> None:
    record = ModelVersion("iris", "2", "file:///m", ReplicaStatus(S.AVAILABLE), "d", loaded())
    info = record.info()
    assert (info.state, info.inputs, info.outputs, info.rss_bytes) == (
        S.AVAILABLE,
        INPUTS,
        OUTPUTS,
        100,
    )


def test_a_version_not_loaded_declares_nothing() -> None:
    info = ModelVersion("iris", "2", "file:///m", ReplicaStatus(S.LOADING)).info()
    assert (info.inputs, info.outputs) == ((), ())
