"""Checks a request's inputs against a model's declared signature before any work is done."""

from __future__ import annotations

from collections.abc import Sequence

from loadmaster.oip.errors import BadRequest
from loadmaster.oip.types import RequestedOutput, Tensor, TensorSpec


def validate_inputs(model: str, inputs: Sequence[Tensor], specs: Sequence[TensorSpec]) -> None:
    """Raise BadRequest naming the first input that does not match the model's declaration.

    Missing inputs are left to the runtime: some inputs are optional (an attention mask).
    """
    declared = {s.name: s for s in specs}
    names = [t.name for t in inputs]
    if len(set(names)) != len(names):
        raise BadRequest(f"model '{model}': an input name appears twice in {names}")
    for tensor in inputs:
        spec = declared.get(tensor.name)
        if spec is None:
            raise BadRequest(
                f"model '{model}' has no input '{tensor.name}'; it takes {sorted(declared)}"
            )
        if tensor.datatype != spec.datatype:
            raise BadRequest(
                f"model '{model}' input '{tensor.name}' is {spec.datatype}, got {tensor.datatype}"
            )
        if len(tensor.shape) != len(spec.shape) or any(
            want not in (-1, got) for want, got in zip(spec.shape, tensor.shape, strict=True)
        ):
            raise BadRequest(
                f"model '{model}' input '{tensor.name}' has shape {list(spec.shape)} "
                f"(-1 is any size), got {list(tensor.shape)}"
            )


def select_outputs(
    model: str, outputs: Sequence[Tensor], requested: Sequence[RequestedOutput]
) -> tuple[Tensor, ...]:
    """The requested outputs in the requested order; every output when none is named."""
    if not requested:
        return tuple(outputs)
    by_name = {t.name: t for t in outputs}
    unknown = [r.name for r in requested if r.name not in by_name]
    if unknown:
        raise BadRequest(f"model '{model}' has no output(s) {unknown}; it has {sorted(by_name)}")
    return tuple(by_name[r.name] for r in requested)
