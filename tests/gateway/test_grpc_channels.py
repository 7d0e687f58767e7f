"""The pool of gRPC channels to agents: one per address, closed when the address leaves."""

from __future__ import annotations

from gateway.grpc_channels import Channels, method_path
from tests.gateway.fakes import until


def test_method_path_names_the_oip_service() -> None:
    assert method_path("ModelInfer") == "/inference.GRPCInferenceService/ModelInfer"


async def test_one_channel_per_address_closed_when_it_leaves_the_table() -> None:
    channels = Channels(close_grace_s=0.0)
    channels.unary("a:1", "ModelInfer")
    channels.stream("a:1", "ModelStreamInfer")
    channels.unary("b:1", "ModelInfer")
    assert channels.addresses == {"a:1", "b:1"}
    first = channels._channels["a:1"]
    channels.unary("a:1", "ModelMetadata")
    assert channels._channels["a:1"] is first  # reused, not reopened
    channels.retain({"a:1"})
    assert channels.addresses == {"a:1"}
    await until(lambda: not channels._draining)  # b's channel closed in the background
    channels.retain(set())
    await channels.close()
    assert channels.addresses == frozenset() and not channels._draining
