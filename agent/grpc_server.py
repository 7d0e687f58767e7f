"""OIP over gRPC: a thin grpc.aio adapter over the data plane.

Errors become the gRPC status matching their REST status (404 NOT_FOUND, 400 INVALID_ARGUMENT,
503 UNAVAILABLE, ...). Responses always carry `raw_output_contents`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from agent.dataplane import DataPlane
from loadmaster import logs
from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.generated.inference import grpc_service_pb2_grpc as pb_grpc
from loadmaster.oip import errors, grpc_codec

log = logs.get_logger("agent.grpc")
Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


async def _call(context: Context, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work`, turning our errors into the matching gRPC status."""
    try:
        return await work()
    except errors.OIPError as exc:
        await context.abort(getattr(grpc.StatusCode, exc.grpc_code), exc.message)
    except Exception as exc:
        log.exception("unhandled gRPC error")
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
    raise AssertionError("context.abort returned")  # pragma: no cover


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: Context
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.plane.live())

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: Context
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.plane.ready())

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: Context
    ) -> pb.ModelReadyResponse:
        async def work() -> pb.ModelReadyResponse:
            return pb.ModelReadyResponse(
                ready=self.plane.model_ready(request.name, request.version)
            )

        return await _call(context, work)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        meta = self.plane.server_metadata()
        return pb.ServerMetadataResponse(
            name=meta.name, version=meta.version, extensions=list(meta.extensions)
        )

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        async def work() -> pb.ModelMetadataResponse:
            metadata = self.plane.model_metadata(request.name, request.version)
            return grpc_codec.model_metadata_to_proto(metadata)

        return await _call(context, work)

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: Context
    ) -> pb.ModelInferResponse:
        async def work() -> pb.ModelInferResponse:
            decoded = grpc_codec.request_from_proto(request)
            return grpc_codec.response_to_proto(await self.plane.infer(decoded), decoded)

        return await _call(context, work)

    async def ModelStreamInfer(
        self,
        request_iterator: AsyncIterator[pb.ModelInferRequest],
        context: Context,
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Each request may answer in several parts; an error answers that request alone."""
        async for request in request_iterator:
            try:
                decoded = grpc_codec.request_from_proto(request)
                async for part in self.plane.infer_stream(decoded):
                    proto = grpc_codec.response_to_proto(part, decoded)
                    yield pb.ModelStreamInferResponse(infer_response=proto)
            except errors.OIPError as exc:
                yield pb.ModelStreamInferResponse(error_message=exc.message)

    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: Context
    ) -> pb.RepositoryIndexResponse:
        entries = self.plane.repository_index(ready_only=request.ready)
        return grpc_codec.repository_index_to_proto(entries)

    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Context
    ) -> pb.RepositoryModelLoadResponse:
        async def work() -> pb.RepositoryModelLoadResponse:
            parameters = grpc_codec.repository_parameters_from_proto(request.parameters)
            await self.plane.load_with_parameters(request.model_name, parameters)
            return pb.RepositoryModelLoadResponse()

        return await _call(context, work)

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Context
    ) -> pb.RepositoryModelUnloadResponse:
        async def work() -> pb.RepositoryModelUnloadResponse:
            await self.plane.unload(request.model_name)
            return pb.RepositoryModelUnloadResponse()

        return await _call(context, work)


def build_server(plane: DataPlane, host: str, port: int) -> grpc.aio.Server:
    limit = plane.config.max_body_bytes
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ]
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(plane), server)
    server.add_insecure_port(f"{host}:{port}")
    return server
