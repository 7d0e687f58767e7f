"""AdminChannel: one gRPC channel to the scheduler's admin API, and its errors translated.

gRPC errors never leave the client raw: they become `AdminError`s whose class says what the
caller can do about them (`NotFound`, `InvalidSpec`, `Unreachable`, ...) and whose message is
fit to print. The model and experiment calls build on this class.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from types import TracebackType
from typing import Self, TypeVar

import grpc

from loadmaster.client.errors import AdminError, InvalidSpec, NotFound, SpecConflict, Unreachable
from loadmaster.generated.scheduler.v1 import admin_pb2, admin_pb2_grpc

ENV_SCHEDULER = "LOADMASTER_SCHEDULER"
DEFAULT_SCHEDULER = "127.0.0.1:9004"

_Request = TypeVar("_Request")
_Reply = TypeVar("_Reply")
_Status = TypeVar("_Status")


class AdminChannel:
    """One insecure channel to the scheduler; use as a context manager or call `close`.

    `timeout_s` bounds every unary call. The channel connects lazily, so constructing a client
    never fails; the first call to an absent scheduler raises `Unreachable`.
    """

    def __init__(self, address: str, timeout_s: float = 10.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(address)
        self._stub = admin_pb2_grpc.SchedulerAdminStub(self._channel)
        # Set by the first answer: a deadline before it means no scheduler is listening.
        self._connected = threading.Event()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(
        self, method: grpc.UnaryUnaryMultiCallable[_Request, _Reply], request: _Request
    ) -> _Reply:
        try:
            reply = method(request, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        self._connected.set()
        return reply

    def _wait_following_models(
        self,
        deadline: float,
        current: Callable[[], _Status],
        ready: Callable[[_Status], bool],
        models_of: Callable[[_Status], Collection[str]],
        timed_out: Callable[[_Status], AdminError],
    ) -> _Status:
        """`current()` once `ready` says so. A resource that is ready exactly when its models
        are (an experiment, a pipeline) is asked again only when one of `models_of(last)`
        changes on the model status stream; `timed_out(last)` is raised at `deadline`."""
        last = current()
        if ready(last):
            return last
        remaining = max(deadline - time.monotonic(), 0.001)
        call = self._stub.SubscribeModelStatus(admin_pb2.SubscribeRequest(), timeout=remaining)
        try:
            for model in call:
                if model.name not in models_of(last):
                    continue
                last = current()
                if ready(last):
                    return last
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
                raise self._error(exc) from None
            raise timed_out(last) from None
        finally:
            call.cancel()
        raise AdminError(
            "UNAVAILABLE", f"the scheduler at {self.address} ended the status stream early"
        )

    def _error(self, exc: grpc.RpcError) -> AdminError:
        code = exc.code()
        details = exc.details() or code.name.lower()
        if code is grpc.StatusCode.NOT_FOUND:
            return NotFound(code.name, details)
        if code is grpc.StatusCode.INVALID_ARGUMENT:
            return InvalidSpec(code.name, details)
        if code is grpc.StatusCode.FAILED_PRECONDITION:
            return SpecConflict(code.name, details)
        connect_timeout = code is grpc.StatusCode.DEADLINE_EXCEEDED and not self._connected.is_set()
        if code is grpc.StatusCode.UNAVAILABLE or connect_timeout:
            return Unreachable(
                code.name,
                f"cannot reach the scheduler at {self.address} ({details}): is `loadmaster "
                f"scheduler` running? set --scheduler or {ENV_SCHEDULER}",
            )
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            details = f"the scheduler at {self.address} did not answer within {self.timeout_s:g}s"
        return AdminError(code.name, details)
