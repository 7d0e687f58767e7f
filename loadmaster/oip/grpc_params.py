"""gRPC parameter maps (`InferParameter`, `ModelRepositoryParameter`) to and from Python values.

`InferParameter` is a oneof: bool_param=1, int64_param=2, string_param=3, double_param=4,
uint64_param=5. tritonclient sends the last two, so all five are read; when writing, an int
that does not fit int64 goes as uint64 rather than failing.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.types import Parameters, ParamValue

_INT64_MIN = -(2**63)
_INT64_END = 2**63
_UINT64_END = 2**64

RepositoryParamValue = str | int | bool | bytes


def params_to_proto(params: Parameters, target_map: MutableMapping[str, pb.InferParameter]) -> None:
    """Write `params` into a proto parameter map (e.g. `msg.parameters`).

    A value no `InferParameter` can carry (an int beyond uint64, another type) is a bug of
    whoever built the record, hence ValueError.
    """
    for key, value in params.items():
        slot = target_map[key]
        # bool before int: True is an int to Python but a bool to the client.
        if isinstance(value, bool):
            slot.bool_param = value
        elif isinstance(value, int):
            if _INT64_MIN <= value < _INT64_END:
                slot.int64_param = value
            elif _INT64_END <= value < _UINT64_END:
                slot.uint64_param = value
            else:
                raise ValueError(f"parameter {key!r}: {value} fits neither int64 nor uint64")
        elif isinstance(value, float):
            slot.double_param = value
        elif isinstance(value, str):
            slot.string_param = value
        else:
            raise ValueError(
                f"parameter {key!r}: {type(value).__name__} cannot travel as an InferParameter"
            )


def params_from_proto(
    source: Mapping[str, pb.InferParameter], *, what: str = "request"
) -> dict[str, ParamValue]:
    """The parameter map as plain Python values; a parameter with no value set is refused
    (`what` names its owner in that message, e.g. "input 'x'")."""
    return dict(_oneof_values(source, f"{what}: parameter"))


def repository_parameters_from_proto(
    source: Mapping[str, pb.ModelRepositoryParameter],
) -> dict[str, RepositoryParamValue]:
    """`RepositoryModelLoadRequest.parameters` (bool/int64/string/bytes oneof) as a dict."""
    return dict(_oneof_values(source, "repository parameter"))


def _oneof_values(
    source: Mapping[str, pb.InferParameter] | Mapping[str, pb.ModelRepositoryParameter],
    what: str,
) -> list[tuple[str, Any]]:
    """Each parameter's value, whichever member of its `parameter_choice` oneof is set."""
    values: list[tuple[str, Any]] = []
    for key, param in source.items():
        choice = param.WhichOneof("parameter_choice")
        if choice is None:
            raise BadRequest(f"{what} {key!r} has no value")
        values.append((key, getattr(param, choice)))
    return values
