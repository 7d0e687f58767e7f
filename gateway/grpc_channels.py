"""The gateway's gRPC channels to agents: one per agent address, reused by every call.

A channel multiplexes any number of calls over one HTTP/2 connection and reconnects by itself,
so one per agent is the pool. Payloads travel as bytes (no serializer on either side). When an
address leaves the route table its channel is closed after a grace period, letting calls that
are still on it finish; reconnection back-off is kept short so an agent that restarts on the
same address is found again within a second.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Set

import grpc

from loadmaster import logs

log = logs.get_logger("gateway.grpc")

SERVICE = "inference.GRPCInferenceService"
CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", -1),  # the agent's answer is bounded by the agent
    ("grpc.max_send_message_length", -1),  # requests were bounded on the way in
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30_000),
)
UnaryRaw = grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]
StreamRaw = grpc.aio.StreamStreamMultiCallable[bytes, bytes]


def method_path(method: str) -> str:
    return f"/{SERVICE}/{method}"


class Channels:
    """Channels by agent gRPC address (HOST:PORT), opened on first use inside the event loop."""

    def __init__(self, close_grace_s: float) -> None:
        self._close_grace_s = close_grace_s
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._draining: dict[grpc.aio.Channel, asyncio.Task[None]] = {}

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
            self._channels[address] = channel
        return channel

    def unary(self, address: str, method: str) -> UnaryRaw:
        return self._channel(address).unary_unary(method_path(method))

    def stream(self, address: str, method: str) -> StreamRaw:
        return self._channel(address).stream_stream(method_path(method))

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(self._channels)

    def retain(self, addresses: Set[str]) -> None:
        """Close (after the grace period) the channels to addresses not in `addresses`."""
        for address in [a for a in self._channels if a not in addresses]:
            channel = self._channels.pop(address)
            log.info("closing channel to agent", address=address, grace_s=self._close_grace_s)
            task = asyncio.create_task(channel.close(grace=self._close_grace_s))
            self._draining[channel] = task
            task.add_done_callback(functools.partial(self._drained, channel))

    def _drained(self, channel: grpc.aio.Channel, task: asyncio.Task[None]) -> None:
        self._draining.pop(channel, None)

    async def close(self) -> None:
        """Close every channel now, cancelling what is still on them."""
        channels = [*self._channels.values(), *self._draining]
        self._channels = {}
        for channel in channels:
            await channel.close()  # no grace: calls still on it are cancelled
        await asyncio.gather(*self._draining.values(), return_exceptions=True)
