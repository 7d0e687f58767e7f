"""Check a request's inputs against a model's signature before any model code runs.

Inputs are untrusted (brief §5). A wrong name, datatype, rank or fixed dimension is the
client's mistake and must come back as a clear 400 naming the tensor, not as a stack trace from
deep inside torch that reads like a server fault. Runtimes call `check_inputs` first and
`merged_parameters` for the request's options (model defaults from settings, request wins).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from loadmaster.oip.datatypes import NUMPY_DTYPE, DataType
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.types import Parameters, ParamValue, Tensor, TensorSpec

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def check_inputs(
    model: str,
    inputs: Sequence[Tensor],
    specs: Sequence[TensorSpec],
    optional: Iterable[str] = (),
) -> dict[str, Tensor]:
    """The inputs by name, in signature order, or BadRequest naming the first problem."""
    given: dict[str, Tensor] = {}
    for tensor in inputs:
        if tensor.name in given:
            raise BadRequest(f"model {model!r}: input {tensor.name!r} is given twice")
        given[tensor.name] = tensor
    expected = {spec.name: spec for spec in specs}
    names = ", ".join(expected) or "none"
    for name in given:
        if name not in expected:
            raise BadRequest(f"model {model!r} has no input {name!r}; its inputs are: {names}")
    may_miss = set(optional)
    ordered: dict[str, Tensor] = {}
    for spec in specs:
        found = given.get(spec.name)
        if found is None:
            if spec.name in may_miss:
                continue
            raise BadRequest(
                f"model {model!r}: missing input {spec.name!r}; its inputs are: {names}"
            )
        _check_one(model, found, spec)
        ordered[spec.name] = found
    return ordered


def _check_one(model: str, tensor: Tensor, spec: TensorSpec) -> None:
    where = f"model {model!r}: input {spec.name!r}"
    if tensor.datatype is not spec.datatype:
        raise BadRequest(f"{where} must be {spec.datatype.value}, got {tensor.datatype.value}")
    if tuple(tensor.data.shape) != tuple(tensor.shape):
        raise BadRequest(
            f"{where}: data of shape {list(tensor.data.shape)} does not match "
            f"its declared shape {list(tensor.shape)}"
        )
    if len(tensor.shape) != len(spec.shape):
        raise BadRequest(
            f"{where} must have rank {len(spec.shape)} (shape {list(spec.shape)}), "
            f"got shape {list(tensor.shape)}"
        )
    for axis, (want, got) in enumerate(zip(spec.shape, tensor.shape, strict=True)):
        if want != -1 and want != got:
            raise BadRequest(
                f"{where} dimension {axis} must be {want} (shape {list(spec.shape)}), "
                f"got shape {list(tensor.shape)}"
            )
    if not _dtype_fits(tensor.data, spec.datatype):
        raise BadRequest(f"{where}: data of numpy dtype {tensor.data.dtype} is not {spec.datatype}")


def _dtype_fits(data: np.ndarray, datatype: DataType) -> bool:
    if datatype is DataType.BYTES:
        return data.dtype.kind in ("O", "S", "U")
    return bool(np.can_cast(data.dtype, NUMPY_DTYPE[datatype], casting="equiv"))


def merged_parameters(
    defaults: Mapping[str, ParamValue], request: Parameters
) -> dict[str, ParamValue]:
    """The model's default parameters overlaid with the request's own."""
    merged = dict(defaults)
    merged.update(request)
    return merged


def flag(parameters: Mapping[str, ParamValue], name: str, default: bool = False) -> bool:
    """A boolean request option; strings such as "true" are accepted (JSON clients send them)."""
    value = parameters.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise BadRequest(f"parameter {name!r} must be a boolean, got {value!r}")
