"""The scheduler's load and unload orders, executed against the model host.

Each order runs in its own task, so loads of different models proceed side by side (the host
serializes work on one model name), and every outcome becomes a `ReplicaEvent` carrying the
order's id. Failures are reported as events, never raised out of the stream's loop.

The host's listener adds what no order asked for: a version that leaves the host on its own
(retired by a rolling update, unloaded through the repository API, a failed attempt replaced)
is reported Unloaded with order id 0. A version that an order is unloading is left to that
order, so the scheduler hears one Unloaded for it, with the order's id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from agent.link.host import ModelHost, scheduler_version, tensor_signatures
from agent.models import VersionInfo
from loadmaster import logs
from loadmaster.generated.agentapi.v1 import agent_pb2 as pb
from loadmaster.oip import errors
from loadmaster.oip.types import TensorSpec
from loadmaster.replica_state import ReplicaState

log = logs.get_logger("agent.link.orders")

Key = tuple[str, str]  # (model, data-plane version)
Send = Callable[[pb.AgentMessage], object]


def event(
    model: str,
    version: int,
    state: ReplicaState,
    order_id: int = 0,
    reason: str = "",
    rss_bytes: int = 0,
    cuda_bytes: int = 0,
    inputs: Sequence[TensorSpec] = (),
    outputs: Sequence[TensorSpec] = (),
) -> pb.AgentMessage:
    """`inputs` and `outputs` (the declared signature) go with an Available event only."""
    return pb.AgentMessage(
        event=pb.ReplicaEvent(
            model=model,
            version=version,
            state=str(state),
            reason=reason,
            order_id=order_id,
            measured_rss_bytes=max(rss_bytes, 0),
            measured_cuda_bytes=max(cuda_bytes, 0),
            inputs=tensor_signatures(inputs),
            outputs=tensor_signatures(outputs),
        )
    )


def describe(exc: Exception) -> str:
    if isinstance(exc, errors.OIPError):
        return exc.message
    return str(exc) or type(exc).__name__


class OrderRunner:
    def __init__(self, host: ModelHost, send: Send) -> None:
        self._host = host
        self._send = send
        self._awaiting: dict[Key, set[int]] = {}  # load orders not yet answered Available
        self._unloading: dict[Key, int] = {}  # unload orders running, per version
        self._tasks: set[asyncio.Task[None]] = set()
        host.add_listener(self._on_change)

    def _find(self, key: Key) -> VersionInfo | None:
        for info in self._host.held():
            if (info.name, info.version) == key:
                return info
        return None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- load ------------------------------------------------------------------------------

    def load(self, order: pb.LoadOrder) -> None:
        # `order.parameters` and `order.gpu_index` are not applied yet: the runtime reads its
        # settings from the model directory and picks its device itself (`device: auto`).
        key = (order.model, str(order.version))
        current = self._find(key)
        if current is not None and current.state is ReplicaState.AVAILABLE:
            self._available(order.model, order.version, order.order_id, current)
            return
        self._send(event(order.model, order.version, ReplicaState.LOADING, order.order_id))
        self._awaiting.setdefault(key, set()).add(order.order_id)
        self._spawn(self._load(order, key))

    async def _load(self, order: pb.LoadOrder, key: Key) -> None:
        log.info("load order", order=order.order_id, model=order.model, version=order.version)
        try:
            record = await self._host.load(order.model, order.storage_uri or None, key[1])
        except Exception as exc:
            self._claim(key, order.order_id)
            reason = describe(exc)
            log.warning("load order failed", order=order.order_id, model=order.model, error=reason)
            self._send(
                event(order.model, order.version, ReplicaState.LOAD_FAILED, order.order_id, reason)
            )
            return
        if self._claim(key, order.order_id):  # the listener did not answer it (nothing changed)
            self._available(order.model, order.version, order.order_id, record.info())

    def _claim(self, key: Key, order_id: int) -> bool:
        """Take `order_id` off the awaiting list; True when it was still there."""
        waiting = self._awaiting.get(key)
        if waiting is None or order_id not in waiting:
            return False
        waiting.discard(order_id)
        if not waiting:
            del self._awaiting[key]
        return True

    def _available(self, model: str, version: int, order_id: int, info: VersionInfo) -> None:
        self._send(
            event(
                model,
                version,
                ReplicaState.AVAILABLE,
                order_id,
                "",
                info.rss_bytes,
                info.cuda_bytes,
                info.inputs,
                info.outputs,
            )
        )

    # ---- unload ----------------------------------------------------------------------------

    def unload(self, order: pb.UnloadOrder) -> None:
        key = (order.model, str(order.version))
        if key not in self._awaiting and self._find(key) is None:
            self._send(event(order.model, order.version, ReplicaState.UNLOADED, order.order_id))
            return
        self._send(event(order.model, order.version, ReplicaState.UNLOADING, order.order_id))
        self._unloading[key] = self._unloading.get(key, 0) + 1
        self._spawn(self._unload(order, key))

    async def _unload(self, order: pb.UnloadOrder, key: Key) -> None:
        log.info("unload order", order=order.order_id, model=order.model, version=order.version)
        try:
            await self._host.unload_version(*key)
        except Exception as exc:
            reason = describe(exc)
            log.warning("unload failed", order=order.order_id, model=order.model, error=reason)
            outcome = event(
                order.model, order.version, ReplicaState.UNLOAD_FAILED, order.order_id, reason
            )
        else:
            outcome = event(order.model, order.version, ReplicaState.UNLOADED, order.order_id)
        finally:
            left = self._unloading.pop(key, 1) - 1
            if left:
                self._unloading[key] = left
        self._send(outcome)

    # ---- what the host does by itself --------------------------------------------------------

    def _on_change(self, info: VersionInfo) -> None:
        """Answer load orders the moment their version is Available (before a rollout's old
        version is retired), and report versions that leave the host without an order."""
        number = scheduler_version(info.version)
        if number is None:
            return
        key = (info.name, info.version)
        if info.state is ReplicaState.AVAILABLE:
            for order_id in sorted(self._awaiting.pop(key, ())):
                self._available(info.name, number, order_id, info)
        elif info.state is ReplicaState.UNLOADED and key not in self._unloading:
            self._send(event(info.name, number, ReplicaState.UNLOADED))

    async def close(self) -> None:
        """Stop orders still running (the agent is exiting)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
