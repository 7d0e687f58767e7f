"""gRPC messages of the OIP service to and from the transport-independent records.

Inputs arrive either all raw (`raw_input_contents`, index-aligned with `inputs`) or all typed
(`contents`); answers are always raw, because tritonclient's `as_numpy` cannot read typed
contents. Raw tensors are zero-copy views of the bytes protobuf hands us.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.grpc_contents import array_from_contents, has_contents
from loadmaster.oip.grpc_params import (
    RepositoryParamValue,
    params_from_proto,
    params_to_proto,
    repository_parameters_from_proto,
)
from loadmaster.oip.output_select import select_outputs
from loadmaster.oip.tensor_codec import (
    check_shape,
    datatype_from_wire,
    label_of,
    tensor_from_raw,
    tensor_to_raw,
)
from loadmaster.oip.types import (
    InferRequest,
    InferResponse,
    ModelMetadata,
    RepositoryEntry,
    RequestedOutput,
    ServerMetadata,
    Tensor,
    TensorSpec,
)

__all__ = [
    "RepositoryParamValue",
    "model_metadata_to_proto",
    "params_from_proto",
    "params_to_proto",
    "repository_index_to_proto",
    "repository_parameters_from_proto",
    "request_from_proto",
    "request_to_proto",
    "response_from_proto",
    "response_to_proto",
    "server_metadata_to_proto",
]


def request_from_proto(msg: pb.ModelInferRequest) -> InferRequest:
    """The request in `msg`; BadRequest for anything a client got wrong."""
    inputs = _tensors(msg.inputs, msg.raw_input_contents, "input", "raw_input_contents")
    outputs = tuple(
        RequestedOutput(
            output.name,
            parameters=params_from_proto(
                output.parameters, what=f"requested output {output.name!r}"
            ),
        )
        for output in msg.outputs
    )
    return InferRequest(
        model=msg.model_name,
        inputs=inputs,
        version=msg.model_version,
        id=msg.id,
        outputs=outputs,
        parameters=params_from_proto(msg.parameters, what="request"),
    )


def response_from_proto(msg: pb.ModelInferResponse) -> InferResponse:
    """The response in `msg`, raw or typed (other servers may answer typed)."""
    outputs = _tensors(msg.outputs, msg.raw_output_contents, "output", "raw_output_contents")
    return InferResponse(
        model=msg.model_name,
        outputs=outputs,
        version=msg.model_version,
        id=msg.id,
        parameters=params_from_proto(msg.parameters, what="response"),
    )


def _tensors(
    items: Sequence[
        pb.ModelInferRequest.InferInputTensor | pb.ModelInferResponse.InferOutputTensor
    ],
    raw: Sequence[bytes],
    role: str,
    raw_field: str,
) -> tuple[Tensor, ...]:
    raw_count = len(raw)
    if raw_count and raw_count != len(items):
        raise BadRequest(f"{len(items)} {role}s but {raw_count} {raw_field}: they must pair up")
    tensors: list[Tensor] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        name = item.name
        label = label_of(name, role)
        if name in seen:
            raise BadRequest(f"{label} appears more than once")
        seen.add(name)
        datatype = datatype_from_wire(item.datatype, name, role=role)
        shape = check_shape(list(item.shape), name, role=role)
        params = params_from_proto(item.parameters, what=label)
        if not raw_count:
            data = array_from_contents(item.contents, datatype, shape, label)
            tensors.append(Tensor(name, datatype, shape, data, params))
            continue
        if has_contents(item.contents):
            raise BadRequest(f"{label} has typed contents although {raw_field} is used")
        tensors.append(tensor_from_raw(name, datatype, shape, raw[index], params, role=role))
    return tuple(tensors)


def response_to_proto(
    resp: InferResponse, request: InferRequest | None = None
) -> pb.ModelInferResponse:
    """The response as raw output contents; with `request`, only the outputs it named, in its
    order (BadRequest for a name the model did not produce)."""
    msg = pb.ModelInferResponse(model_name=resp.model, model_version=resp.version, id=resp.id)
    if request is not None and not resp.id:
        msg.id = request.id
    params_to_proto(resp.parameters, msg.parameters)
    tensors = [tensor for tensor, _ in select_outputs(resp, request.outputs if request else ())]
    for tensor in tensors:
        out = msg.outputs.add(name=tensor.name, datatype=tensor.datatype.value, shape=tensor.shape)
        params_to_proto(tensor.parameters, out.parameters)
    msg.raw_output_contents.extend([tensor_to_raw(tensor) for tensor in tensors])
    return msg


def request_to_proto(req: InferRequest) -> pb.ModelInferRequest:
    """The request with every input in `raw_input_contents` (what servers read fastest)."""
    msg = pb.ModelInferRequest(model_name=req.model, model_version=req.version, id=req.id)
    params_to_proto(req.parameters, msg.parameters)
    for tensor in req.inputs:
        item = msg.inputs.add(name=tensor.name, datatype=tensor.datatype.value, shape=tensor.shape)
        params_to_proto(tensor.parameters, item.parameters)
    for output in req.outputs:
        wanted = msg.outputs.add(name=output.name)
        params_to_proto(output.parameters, wanted.parameters)
    msg.raw_input_contents.extend([tensor_to_raw(tensor) for tensor in req.inputs])
    return msg


def _tensor_metadata(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=spec.name, datatype=spec.datatype.value, shape=spec.shape
    )


def model_metadata_to_proto(m: ModelMetadata) -> pb.ModelMetadataResponse:
    msg = pb.ModelMetadataResponse(
        name=m.name,
        versions=m.versions,
        platform=m.platform,
        inputs=[_tensor_metadata(spec) for spec in m.inputs],
        outputs=[_tensor_metadata(spec) for spec in m.outputs],
    )
    params_to_proto(m.parameters, msg.parameters)
    return msg


def server_metadata_to_proto(s: ServerMetadata) -> pb.ServerMetadataResponse:
    return pb.ServerMetadataResponse(name=s.name, version=s.version, extensions=s.extensions)


def repository_index_to_proto(entries: Iterable[RepositoryEntry]) -> pb.RepositoryIndexResponse:
    return pb.RepositoryIndexResponse(
        models=[
            pb.RepositoryIndexResponse.ModelIndex(
                name=e.name, version=e.version, state=e.state, reason=e.reason
            )
            for e in entries
        ]
    )
