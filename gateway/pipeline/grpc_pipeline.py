"""Pipelines through the gRPC door: `ModelInfer` for the model name `<pipeline>.pipeline`.

Pipeline records carry OIP REST bodies, so a gRPC request is converted once on the way in (to a
REST body with every tensor binary, asking for binary outputs) and the answer once on the way
out, into a `ModelInferResponse` with `raw_output_contents`: tritonclient's `as_numpy` cannot
read typed contents. The answer names the model `<pipeline>.pipeline`, the name the client
asked for. Failures get the gRPC status matching the HTTP one (`outcomes.grpc_code_of`), the
message REST would give, and the failing step and model in trailing metadata
(`lm-pipeline-step`, `lm-pipeline-model`), with `x-pipeline-request-id` for `pipeline inspect`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING

import grpc
from google.protobuf.message import DecodeError

from gateway import wire
from gateway.front import REQUEST_ID, request_id
from gateway.pipeline.outcomes import PipelineError, PipelineStatus
from loadmaster import logs
from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.oip import errors, grpc_codec, rest_codec

if TYPE_CHECKING:  # the gRPC door imports this module; Kafka's parts load only when used
    from gateway.pipeline.front import PipelineFront

log = logs.get_logger("gateway.pipeline.grpc")

Context = grpc.aio.ServicerContext[bytes, bytes]
SUFFIX = ".pipeline"
PIPELINE_REQUEST_ID = "x-pipeline-request-id"
STEP_KEY = "lm-pipeline-step"
MODEL_KEY = "lm-pipeline-model"
GRPC = "grpc"
PLATFORM = "loadmaster-pipeline"
# As for models: give up a little before the client's deadline, so that the gateway's message
# naming the pipeline arrives before the client's timer fires with a bare one.
MARGIN_SHARE, MAX_MARGIN_S = 0.1, 0.05


def pipeline_name(request: bytes) -> str | None:
    """The pipeline a request addresses (`<name>.pipeline`), or None when it names a model or
    is malformed (the model path reports that)."""
    try:
        name = wire.read_model_ref(request).name
    except wire.WireError:
        return None
    if name.endswith(SUFFIX) and len(name) > len(SUFFIX):
        return name[: -len(SUFFIX)]
    return None


class GrpcPipelines:
    def __init__(self, front: PipelineFront) -> None:
        self.front = front

    async def model_infer(self, name: str, request: bytes, context: Context) -> bytes:
        client_id = _client_id(context)
        started = time.perf_counter()
        code = "INTERNAL"
        try:
            answer = await self._infer(name, request, context, client_id)
            code = "OK"
            return answer
        except PipelineError as exc:
            failure = exc
            code = exc.grpc_code
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except Exception as exc:
            log.exception("unhandled gRPC pipeline error", pipeline=name)
            failure = PipelineError(
                500, f"internal error: {type(exc).__name__}: {exc}", pipeline=name, request_id=""
            )
        finally:
            seconds = time.perf_counter() - started
            self.front.metrics.answered(self.front.label(name), GRPC, code, seconds)
        rid = request_id(client_id or failure.request_id)
        await context.send_initial_metadata(((REQUEST_ID, rid),))
        trailing = [(PIPELINE_REQUEST_ID, failure.request_id)] if failure.request_id else []
        trailing += [(k, v) for k, v in ((STEP_KEY, failure.step), (MODEL_KEY, failure.model)) if v]
        context.set_trailing_metadata(tuple(trailing))
        await context.abort(getattr(grpc.StatusCode, code), failure.message)

    async def model_ready(self, name: str, context: Context) -> bytes:
        status = await self._status(name, context)
        return pb.ModelReadyResponse(ready=status.ready).SerializeToString()

    async def model_metadata(self, name: str, context: Context) -> bytes:
        status = await self._status(name, context)
        answer = pb.ModelMetadataResponse(
            name=f"{name}{SUFFIX}", versions=[str(status.version)], platform=PLATFORM
        )
        return answer.SerializeToString()

    async def _status(self, name: str, context: Context) -> PipelineStatus:
        status = self.front.status(name)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"pipeline '{name}' not found")
        return status

    async def _infer(self, name: str, request: bytes, context: Context, client_id: str) -> bytes:
        try:
            decoded = grpc_codec.request_from_proto(pb.ModelInferRequest.FromString(request))
            params = dict(decoded.parameters)
            params.setdefault(rest_codec.BINARY_DATA_OUTPUT, True)
            decoded = dataclasses.replace(decoded, parameters=params)
            body, header_length = rest_codec.encode_infer_request(decoded, binary=True)
        except DecodeError as exc:
            raise _refused(name, f"malformed request: {exc}") from None
        except errors.OIPError as exc:
            raise _refused(name, exc.message, exc.http_status) from None
        answer = await self.front.infer(
            name,
            body,
            header_length,
            timeout_ms=_timeout_ms(context),
            client_request_id=client_id,
        )
        try:
            response = rest_codec.decode_infer_response(answer.body, answer.header_length)
            response = dataclasses.replace(response, model=f"{name}{SUFFIX}")
            message = grpc_codec.response_to_proto(response)
        except errors.OIPError as exc:
            raise PipelineError(
                500,
                f"pipeline '{name}' answered with a response that is not OIP: {exc.message}",
                pipeline=name,
                request_id=answer.request_id,
            ) from None
        if not message.id:
            message.id = decoded.id
        await context.send_initial_metadata(((REQUEST_ID, client_id or answer.request_id),))
        context.set_trailing_metadata(((PIPELINE_REQUEST_ID, answer.request_id),))
        return message.SerializeToString()


def _refused(name: str, message: str, status: int = 400) -> PipelineError:
    return PipelineError(status, message, pipeline=name, request_id="")


def _client_id(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID and isinstance(value, str):
            return value
    return ""


def _timeout_ms(context: Context) -> int | None:
    """The client's deadline less the margin, or None when it set none."""
    remaining = context.time_remaining()
    if remaining is None:
        return None
    margin = min(remaining * MARGIN_SHARE, MAX_MARGIN_S)
    return max(round((remaining - margin) * 1000), 1)
