"""What a failed admin call raises: one class per thing the caller can do about it.

`NotFound` (no such model, server, experiment or pipeline), `InvalidSpec` (fix the input; its
`SpecConflict` subclass: the input is fine but clashes with what the cluster holds, e.g. a
model another experiment already takes over), `Unreachable` (start the scheduler or point
elsewhere), and the wait timeouts, which carry the last status seen so the message can say
where things got stuck.
"""

from __future__ import annotations

from loadmaster.generated.scheduler.v1 import admin_pb2

ModelStatus = admin_pb2.ModelStatusResponse
ExperimentStatus = admin_pb2.ExperimentStatusResponse
PipelineStatus = admin_pb2.PipelineStatusResponse


class AdminError(Exception):
    """A failed admin call: `code` is the gRPC status name, `message` the text to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(AdminError):
    """No model, server or experiment by that name."""


class InvalidSpec(AdminError):
    """The spec breaks a rule; `message` names the fields."""


class SpecConflict(InvalidSpec):
    """The spec is valid on its own but clashes with the cluster (FAILED_PRECONDITION)."""


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


class ExperimentWaitTimeout(AdminError):
    """The experiment was not `ExperimentReady` in time; `last` is its last status."""

    def __init__(self, message: str, last: ExperimentStatus) -> None:
        super().__init__("DEADLINE_EXCEEDED", message)
        self.last = last


class PipelineWaitTimeout(WaitTimeout):
    """The pipeline was not `PipelineReady` in time; `pipeline` is its last status."""

    def __init__(self, message: str, pipeline: PipelineStatus) -> None:
        super().__init__(message, None)
        self.pipeline = pipeline


class PipelineWaitFailed(WaitFailed):
    """The pipeline is `PipelineFailed` (its references disagree with its models' tensors):
    waiting longer would not help; `pipeline` is its status."""

    def __init__(self, message: str, pipeline: PipelineStatus) -> None:
        super().__init__(message, None)
        self.pipeline = pipeline
