"""AdminClient: the scheduler's admin API as plain blocking calls, for the CLI and scripts.

Failed calls raise `AdminError`s (`loadmaster.client.errors`) whose class says what the caller
can do about them and whose message is fit to print; the channel and that translation live in
`AdminChannel`, the experiment calls in `ExperimentCalls`, the pipeline calls in
`PipelineCalls`. Waiting for a state uses the status
subscription rather than polling, so a wait ends the moment the scheduler reports the change
and costs one stream instead of a request per tick.
"""

from __future__ import annotations

import time
from collections.abc import Generator

import grpc

from loadmaster.client.channel import DEFAULT_SCHEDULER, ENV_SCHEDULER
from loadmaster.client.errors import (
    AdminError,
    ExperimentWaitTimeout,
    InvalidSpec,
    ModelStatus,
    NotFound,
    PipelineWaitFailed,
    PipelineWaitTimeout,
    SpecConflict,
    Unreachable,
    WaitFailed,
    WaitTimeout,
)
from loadmaster.client.experiments import ExperimentCalls
from loadmaster.client.pipelines import PipelineCalls
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.model_state import ModelState
from loadmaster.resources import ModelSpec, check_spec, spec_to_proto

ServerStatus = admin_pb2.ServerStatusResponse


class AdminClient(ExperimentCalls, PipelineCalls):
    """Every admin call as a blocking method; use as a context manager or call `close`.

    `timeout_s` bounds every unary call. The channel connects lazily, so constructing a client
    never fails; the first call to an absent scheduler raises `Unreachable`.
    """

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


def _fail_fast(name: str, wanted: str, status: ModelStatus) -> None:
    if status.state == ModelState.FAILED and wanted != ModelState.FAILED:
        raise WaitFailed(f"model {name} is {status.state}: {status.reason}", status)


__all__ = [
    "DEFAULT_SCHEDULER",
    "ENV_SCHEDULER",
    "AdminClient",
    "AdminError",
    "ExperimentWaitTimeout",
    "InvalidSpec",
    "NotFound",
    "PipelineWaitFailed",
    "PipelineWaitTimeout",
    "SpecConflict",
    "Unreachable",
    "WaitFailed",
    "WaitTimeout",
]
