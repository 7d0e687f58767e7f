"""Tensor references in a pipeline spec: what a step (or the answer) takes from where.

Written forms, as in Seldon Core v2:

* `STEP` or `STEP.outputs`: every output tensor of step STEP;
* `STEP.outputs.TENSOR`: one output tensor of STEP;
* `pipeline.inputs`: every tensor of the pipeline's request;
* `pipeline.inputs.TENSOR`: one tensor of the pipeline's request.

`pipeline` is therefore not a valid step name. Tensor names may contain dots (everything after
the second dot is the tensor's name), because OIP tensor names are free text.
"""

from __future__ import annotations

from dataclasses import dataclass

PIPELINE = "pipeline"
OUTPUTS = "outputs"
INPUTS = "inputs"


@dataclass(frozen=True, slots=True)
class TensorRef:
    """`source` is a step name, or PIPELINE for the pipeline's inputs; an empty `tensor` means
    every tensor of that source."""

    source: str
    tensor: str = ""

    @property
    def from_pipeline(self) -> bool:
        return self.source == PIPELINE

    @property
    def text(self) -> str:
        """The canonical written form (`a.outputs.y`, `pipeline.inputs`)."""
        part = INPUTS if self.from_pipeline else OUTPUTS
        tail = f".{self.tensor}" if self.tensor else ""
        return f"{self.source}.{part}{tail}"


def parse_ref(text: str) -> TensorRef:
    """The reference `text` names; raises ValueError saying what is wrong with it."""
    if not text or text != text.strip():
        raise ValueError(f"{text!r} is not a reference (expected STEP.outputs[.TENSOR])")
    source, _, rest = text.partition(".")
    part, _, tensor = rest.partition(".")
    if not source:
        raise ValueError(f"{text!r} names no step (expected STEP.outputs[.TENSOR])")
    if source == PIPELINE:
        if part != INPUTS:
            raise ValueError(
                f"{text!r}: the pipeline offers only its inputs (pipeline.inputs[.TENSOR])"
            )
    elif rest and part != OUTPUTS:
        raise ValueError(
            f"{text!r}: a step offers only its outputs ({source}.outputs[.TENSOR]), not {part!r}"
        )
    if rest and "." in rest and not tensor:
        raise ValueError(f"{text!r} ends with a dot: name the tensor or leave the dot out")
    return TensorRef(source=source, tensor=tensor)
