"""The interface every runtime implements: one loaded model inside one worker process.

A runtime is created per (model version, worker). The worker calls `load` once, answers
`signature` for model metadata, then calls `predict` (or `predict_stream`) for each request or
batch. Runtimes are the only code that imports torch (brief §1, layering rule).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from loadmaster.oip.types import Parameters, ParamValue, Tensor, TensorSpec


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """What `model-settings.yaml` beside the artifact says (all optional).

    `inputs`/`outputs` name and type the tensors where the artifact cannot; `parameters` are the
    model's defaults for request parameters (e.g. `return_labels`, `return_probabilities`);
    `implementation` is `module:Class` for the custom Python runtime; `device` is `auto`
    (a GPU when the model needs one and one exists), `cpu` or `cuda`.
    """

    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    max_batch_size: int = 1
    max_batch_time_ms: float = 0.0
    parameters: Mapping[str, ParamValue] = field(default_factory=dict)
    implementation: str = ""
    device: str = "auto"


@dataclass(frozen=True, slots=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True, slots=True)
class LoadTimings:
    """Seconds spent in each load phase (download is timed by the agent, before the runtime)."""

    deserialize_s: float
    to_device_s: float
    warmup_s: float


class RuntimeFailure(Exception):
    """A model cannot be loaded or run; the message names the model and the cause."""


class Runtime(abc.ABC):
    """One model version, loaded in one worker process."""

    platform: ClassVar[str]
    # The capability an agent must declare to run this runtime (e.g. "torch", "python").
    capability: ClassVar[str]

    def __init__(self, name: str, model_dir: Path, settings: ModelSettings, device: str) -> None:
        self.name = name
        self.model_dir = model_dir
        self.settings = settings
        self.device = device

    @abc.abstractmethod
    def load(self) -> LoadTimings:
        """Deserialize, move to `self.device`, warm up. Raise RuntimeFailure on failure."""

    @abc.abstractmethod
    def signature(self) -> Signature:
        """Names, datatypes and shapes of inputs and outputs; valid after `load`."""

    @abc.abstractmethod
    def predict(self, inputs: Sequence[Tensor], parameters: Parameters) -> list[Tensor]:
        """Run one request (or one concatenated batch). Outputs are host (CPU) numpy arrays."""

    def predict_stream(
        self, inputs: Sequence[Tensor], parameters: Parameters
    ) -> Iterator[list[Tensor]]:
        """Answer in parts; a model that does not stream answers in one part."""
        yield self.predict(inputs, parameters)

    def unload(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Release what `load` took (GPU memory above all)."""
