"""The experiment calls of the admin client (docs/experiments.md).

Waiting for `ExperimentReady` follows the model status stream instead of polling: an
experiment becomes ready exactly when one of its models does, so the wait asks for the
experiment's status again only when one of its models changed.
"""

from __future__ import annotations

import time

from loadmaster.client.channel import AdminChannel
from loadmaster.client.errors import (
    ExperimentStatus,
    ExperimentWaitTimeout,
    InvalidSpec,
)
from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.resources import (
    ExperimentSpec,
    ExperimentState,
    check_experiment,
    experiment_to_proto,
)


class ExperimentCalls(AdminChannel):
    def start_experiment(self, spec: ExperimentSpec) -> admin_pb2.StartExperimentResponse:
        """Store and start `spec`, checked here first with the scheduler's own rules."""
        problems = check_experiment(spec)
        if problems:
            raise InvalidSpec("INVALID_ARGUMENT", f"experiment {spec.name}: " + "; ".join(problems))
        request = admin_pb2.StartExperimentRequest(spec=experiment_to_proto(spec))
        return self._call(self._stub.StartExperiment, request)

    def stop_experiment(self, name: str) -> admin_pb2.StopExperimentResponse:
        request = admin_pb2.StopExperimentRequest(name=name)
        return self._call(self._stub.StopExperiment, request)

    def experiment_status(self, name: str) -> ExperimentStatus:
        request = admin_pb2.ExperimentStatusRequest(name=name)
        return self._call(self._stub.ExperimentStatus, request)

    def list_experiments(self) -> list[ExperimentStatus]:
        reply = self._call(self._stub.ListExperiments, admin_pb2.ListExperimentsRequest())
        return list(reply.experiments)

    def wait_for_experiment(self, name: str, timeout_s: float) -> ExperimentStatus:
        """The experiment's status once it is `ExperimentReady`.

        Readiness follows from its models' states, so this follows the model status stream and
        asks again whenever one of the experiment's models changes. `ExperimentWaitTimeout`
        carries the last status when `timeout_s` runs out; `NotFound` if the experiment is
        (or gets) stopped.
        """
        deadline = time.monotonic() + timeout_s

        def timed_out(last: ExperimentStatus) -> ExperimentWaitTimeout:
            reason = f" ({last.reason})" if last.reason else ""
            return ExperimentWaitTimeout(
                f"experiment {name} was not {ExperimentState.READY} within {timeout_s:g}s; "
                f"last state {last.state}{reason}",
                last,
            )

        return self._wait_following_models(
            deadline,
            lambda: self.experiment_status(name),
            lambda status: status.state == ExperimentState.READY,
            _models_of,
            timed_out,
        )


def _models_of(status: ExperimentStatus) -> set[str]:
    models = {c.model for c in status.spec.candidates}
    if status.spec.HasField("mirror"):
        models.add(status.spec.mirror.model)
    return models
