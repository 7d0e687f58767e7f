"""AdminClient: the scheduler's admin API as plain blocking calls, for the CLI and scripts.

gRPC errors never leave this module raw: they become `AdminError`s whose class says what the
caller can do about them (`NotFound`, `InvalidSpec`, `Unreachable`) and whose message is fit to
print. Waiting for a state uses the status subscription rather than polling, so a wait ends the
moment the scheduler reports the change and costs one stream instead of a request per tick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from types import TracebackType
from typing import Self, TypeVar

import grpc

from loadmaster.generated.scheduler.v1 import admin_pb2, admin_pb2_grpc
from loadmaster.model_state import ModelState
from loadmaster.resources import ModelSpec, check_spec, spec_to_proto

ENV_SCHEDULER = "LOADMASTER_SCHEDULER"
DEFAULT_SCHEDULER = "127.0.0.1:9004"

ModelStatus = admin_pb2.ModelStatusResponse
ServerStatus = admin_pb2.ServerStatusResponse
_Request = TypeVar("_Request")
_Reply = TypeVar("_Reply")


class AdminError(Exception):
    """A failed admin call: `code` is the gRPC status name, `message` the text to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(AdminError):
    """No model or server by that name."""


class InvalidSpec(AdminError):
    """The spec breaks a rule; `message` names the fields."""


class Unreachable(AdminError):
    """No scheduler answered at the address."""


class WaitTimeout(AdminError):
    """The wanted state did not come in time; `last` is the last status seen, if any."""

    def __init__(self, message: str, last: ModelStatus | None) -> None:
        super().__init__("DEADLINE_EXCEEDED", message)
        self.last = last


class WaitFailed(WaitTimeout):
    """The model reached `ModelFailed` while another state was awaited: waiting longer would
    not help, since a failed version needs its spec applied again."""


class AdminClient:
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

    def load_model(self, spec: ModelSpec) -> admin_pb2.LoadModelResponse:
        """Store `spec`, checked here first with the scheduler's own rules."""
        problems = check_spec(spec)
        if problems:
            raise InvalidSpec("INVALID_ARGUMENT", f"model {spec.name}: " + "; ".join(problems))
        return self._call(
            self._stub.LoadModel, admin_pb2.LoadModelRequest(spec=spec_to_proto(spec))
        )

    def unload_model(self, name: str) -> admin_pb2.UnloadModelResponse:
        return self._call(self._stub.UnloadModel, admin_pb2.UnloadModelRequest(name=name))

    def model_status(self, name: str) -> ModelStatus:
        return self._call(self._stub.ModelStatus, admin_pb2.ModelStatusRequest(name=name))

    def list_models(self) -> list[ModelStatus]:
        return list(self._call(self._stub.ListModels, admin_pb2.ListModelsRequest()).models)

    def server_status(self, name: str) -> ServerStatus:
        return self._call(self._stub.ServerStatus, admin_pb2.ServerStatusRequest(name=name))

    def list_servers(self) -> list[ServerStatus]:
        return list(self._call(self._stub.ListServers, admin_pb2.ListServersRequest()).servers)

    def scheduler_status(self) -> admin_pb2.SchedulerStatusResponse:
        return self._call(self._stub.SchedulerStatus, admin_pb2.SchedulerStatusRequest())

    def watch_models(self, name: str = "") -> Generator[ModelStatus, None, None]:
        """The current status of the matching models (every model when `name` is empty), then
        each change, for as long as the caller iterates; `close()` (or garbage collection)
        cancels the stream."""
        call = self._stub.SubscribeModelStatus(admin_pb2.SubscribeRequest(name=name))
        try:
            for status in call:
                self._connected.set()
                yield status
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        finally:
            call.cancel()

    def wait_for_model(self, name: str, state: str, timeout_s: float) -> ModelStatus:
        """The model's status once it is in `state` (a `ModelState` value).

        Raises `WaitTimeout` carrying the last status seen when `timeout_s` runs out, and
        `NotFound` for an unknown model, except that a model that is gone counts as
        `ModelTerminated`: unloading ends with the model's removal.
        """
        if state not in set(ModelState):
            known = ", ".join(ModelState)
            raise ValueError(f"unknown model state {state!r}; known states: {known}")
        deadline = time.monotonic() + timeout_s
        try:
            last = self.model_status(name)
        except NotFound:
            if state == ModelState.TERMINATED:
                return ModelStatus(name=name, state=ModelState.TERMINATED.value)
            raise
        if last.state == state:
            return last
        _fail_fast(name, state, last)
        request = admin_pb2.SubscribeRequest(name=name)
        remaining = max(deadline - time.monotonic(), 0.001)
        call = self._stub.SubscribeModelStatus(request, timeout=remaining)
        try:
            for status in call:
                if status.name == name:
                    last = status
                    if status.state == state:
                        return status
                    _fail_fast(name, state, status)
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
                raise self._error(exc) from None
            reason = f" ({last.reason})" if last.reason else ""
            raise WaitTimeout(
                f"model {name} did not reach {state} within {timeout_s:g}s; "
                f"last state {last.state or 'unknown'}{reason}",
                last,
            ) from None
        finally:
            call.cancel()
        raise AdminError(
            "UNAVAILABLE", f"the scheduler at {self.address} ended the status stream early"
        )

    def _call(
        self, method: grpc.UnaryUnaryMultiCallable[_Request, _Reply], request: _Request
    ) -> _Reply:
        try:
            reply = method(request, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        self._connected.set()
        return reply

    def _error(self, exc: grpc.RpcError) -> AdminError:
        code = exc.code()
        details = exc.details() or code.name.lower()
        if code is grpc.StatusCode.NOT_FOUND:
            return NotFound(code.name, details)
        if code is grpc.StatusCode.INVALID_ARGUMENT:
            return InvalidSpec(code.name, details)
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


def _fail_fast(name: str, wanted: str, status: ModelStatus) -> None:
    if status.state == ModelState.FAILED and wanted != ModelState.FAILED:
        raise WaitFailed(f"model {name} is {status.state}: {status.reason}", status)
