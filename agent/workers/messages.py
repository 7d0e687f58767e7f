"""Messages between the agent and its worker processes.

They cross a private socketpair between processes of one agent, pickled: both ends are our
own code, so this is not the untrusted-data path (requests are decoded and validated before).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loadmaster.oip.types import Parameters, Tensor, TensorSpec


@dataclass(frozen=True, slots=True)
class LoadModel:
    call_id: int
    key: str
    name: str
    model_dir: str
    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class UnloadModel:
    call_id: int
    key: str


@dataclass(frozen=True, slots=True)
class Predict:
    call_id: int
    key: str
    inputs: tuple[Tensor, ...]
    parameters: Parameters
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a worker learnt while loading: the signature, timings and memory truth."""

    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int
    max_batch_time_ms: float
    default_parameters: Parameters
    device: str
    deserialize_s: float
    to_device_s: float
    warmup_s: float
    rss_bytes: int
    cuda_bytes: int


@dataclass(frozen=True, slots=True)
class Reply:
    """The end of a call: `value` on success, else `error_kind` (an OIPError class name)."""

    call_id: int
    value: Loaded | tuple[Tensor, ...] | None = None
    error_kind: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class StreamPart:
    call_id: int
    outputs: tuple[Tensor, ...] = field(default_factory=tuple)


WorkerMessage = LoadModel | UnloadModel | Predict
AgentMessage = Reply | StreamPart
