"""Transport-independent records of the data plane: tensors, requests, responses, metadata.

REST and gRPC decode into these and encode from them; the agent's core, the workers and the
runtimes see nothing else. All records are frozen; tensors hold numpy arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from loadmaster.oip.datatypes import DataType

ParamValue = bool | int | float | str
Parameters = Mapping[str, ParamValue]


def _no_params() -> dict[str, ParamValue]:
    return {}


@dataclass(frozen=True, slots=True)
class Tensor:
    """A named tensor. `data.shape == shape`; BYTES data is an object array of `bytes`."""

    name: str
    datatype: DataType
    shape: tuple[int, ...]
    data: np.ndarray
    parameters: Parameters = field(default_factory=_no_params)


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output the client asked for; `binary` is the binary-extension preference (REST)."""

    name: str
    binary: bool | None = None
    parameters: Parameters = field(default_factory=_no_params)


@dataclass(frozen=True, slots=True)
class InferRequest:
    model: str
    inputs: tuple[Tensor, ...]
    version: str = ""
    id: str = ""
    outputs: tuple[RequestedOutput, ...] = ()
    parameters: Parameters = field(default_factory=_no_params)


@dataclass(frozen=True, slots=True)
class InferResponse:
    model: str
    outputs: tuple[Tensor, ...]
    version: str = ""
    id: str = ""
    parameters: Parameters = field(default_factory=_no_params)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A declared input or output: -1 marks a dimension of any size."""

    name: str
    datatype: DataType
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    parameters: Parameters = field(default_factory=_no_params)


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    name: str
    version: str
    extensions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RepositoryEntry:
    """One row of the repository index."""

    name: str
    version: str
    state: str
    reason: str = ""
