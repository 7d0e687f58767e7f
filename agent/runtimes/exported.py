"""torch.export models (`model.pt2`): the artifact carries its own signature.

An exported program records its user inputs (names from `forward`'s parameters), their dtypes
and which dimensions are static; dynamic dimensions are symbols, shown as -1. Outputs have no
names in the graph: a dict output keeps its keys, anything else is `output-0`, `output-1`, ...
model-settings may still override either side, e.g. to give outputs friendlier names.

The archive is vetted by `pt2_safety` first, because `torch.export.load` alone may unpickle
untrusted members unsafely.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.export.graph_signature import InputKind, TensorArgument

from agent.runtimes.base import RuntimeFailure, Signature
from agent.runtimes.pt2_safety import check_pt2_archive
from agent.runtimes.torch_module import TorchCallable, TorchModuleRuntime
from agent.runtimes.torch_tensors import datatype_of_torch
from loadmaster.oip.types import TensorSpec

ARTIFACT = "model.pt2"


class ExportedRuntime(TorchModuleRuntime):
    platform = "pytorch_exported"

    def _deserialize(self) -> tuple[TorchCallable, Signature | None]:
        path = self.model_dir / ARTIFACT
        check_pt2_archive(path)
        try:
            program = torch.export.load(str(path))
            if torch.device(self.device).type != "cpu":
                from torch.export.passes import move_to_device_pass

                program = move_to_device_pass(program, self.device)
            signature = exported_signature(program)
            module = program.module()
        except RuntimeFailure:
            raise
        except Exception as exc:
            raise RuntimeFailure(f"model {self.name!r}: cannot load {ARTIFACT}: {exc}") from exc
        return module, signature


def exported_signature(program: torch.export.ExportedProgram) -> Signature:
    """Inputs and outputs as the exported graph records them."""
    in_spec = program.call_spec.in_spec
    if in_spec is not None:
        args, kwargs = in_spec.children()
        if kwargs.num_children or not all(c.is_leaf() for c in args.children()):
            raise RuntimeFailure(
                f"{ARTIFACT}: forward must take tensors as plain positional arguments"
            )
    values = {node.name: node.meta.get("val") for node in program.graph.nodes}
    inputs: list[TensorSpec] = []
    for spec in program.graph_signature.input_specs:
        if spec.kind is not InputKind.USER_INPUT:
            continue
        if not isinstance(spec.arg, TensorArgument):
            raise RuntimeFailure(f"{ARTIFACT}: input {spec.arg} is not a tensor")
        inputs.append(_spec(spec.arg.name, values.get(spec.arg.name)))
    output_node = next(node for node in program.graph.nodes if node.op == "output")
    results = [getattr(arg, "meta", {}).get("val") for arg in output_node.args[0]]
    names = _output_names(program.call_spec.out_spec, len(results))
    outputs = [_spec(name, value) for name, value in zip(names, results, strict=True)]
    return Signature(inputs=tuple(inputs), outputs=tuple(outputs))


def _output_names(out_spec: Any, count: int) -> list[str]:
    context = getattr(out_spec, "context", None)
    if (
        out_spec is not None
        and out_spec.type is dict
        and isinstance(context, list)
        and len(context) == count
        and all(c.is_leaf() for c in out_spec.children())
    ):
        return [str(key) for key in context]
    return [f"output-{index}" for index in range(count)]


def _spec(name: str, value: object) -> TensorSpec:
    if not isinstance(value, torch.Tensor):
        raise RuntimeFailure(f"{ARTIFACT}: {name!r} is not a tensor in the exported graph")
    try:
        datatype = datatype_of_torch(value.dtype)
    except ValueError as exc:
        raise RuntimeFailure(f"{ARTIFACT}: {name!r}: {exc}") from None
    shape = tuple(dim if isinstance(dim, int) else -1 for dim in value.shape)
    return TensorSpec(name=name, datatype=datatype, shape=shape)
