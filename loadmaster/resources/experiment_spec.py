"""ExperimentSpec: the Experiment resource's spec as one frozen record every part shares.

An experiment splits requests between candidate models by weight and may copy a percentage of
them to a mirror model whose answers are dropped (Seldon Core v2's Experiment, for models). The
CLI builds the record from YAML, the admin API carries it as
`loadmaster.scheduler.v1.ExperimentSpec`, the scheduler stores it and gateways route by it.

`check_experiment` holds every rule that needs no knowledge of the cluster; the CLI runs it
before sending and the scheduler again on receipt, so a client that skips the CLI hears the
same words. Candidates keep the order they were written in, which is the order status shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.resources.names import name_problem

MAX_WEIGHT = 2**32 - 1  # the wire carries weights as uint32


@dataclass(frozen=True, slots=True)
class ExperimentCandidate:
    model: str
    weight: int


@dataclass(frozen=True, slots=True)
class ExperimentMirror:
    model: str
    percent: int


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """`default_model`, when set, names the candidate whose model name the experiment takes
    over: requests for that model are split by the experiment instead."""

    name: str
    candidates: tuple[ExperimentCandidate, ...]
    default_model: str = ""
    mirror: ExperimentMirror | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))

    @property
    def models(self) -> tuple[str, ...]:
        """Every model the experiment sends requests to: the candidates, then the mirror."""
        mirror = (self.mirror.model,) if self.mirror is not None else ()
        return (*(c.model for c in self.candidates), *mirror)

    @property
    def total_weight(self) -> int:
        return sum(c.weight for c in self.candidates)


def check_experiment(spec: ExperimentSpec) -> list[str]:
    """Every rule the spec breaks, each as `field.path: problem`; empty when it is valid."""
    problems: list[str] = []
    if (bad_name := name_problem("metadata.name", spec.name)) is not None:
        problems.append(bad_name)
    problems.extend(_candidate_problems(spec))
    names = [c.model for c in spec.candidates]
    if spec.default_model and spec.default_model not in names:
        listed = ", ".join(n for n in names if n) or "none"
        problems.append(
            f"spec.default: {spec.default_model!r} is not one of the candidates ({listed}); the "
            "default model must be a candidate"
        )
    if spec.mirror is not None:
        mirror = spec.mirror
        bad_mirror = name_problem("spec.mirror.name", mirror.model, "model name")
        if bad_mirror is not None:
            problems.append(bad_mirror)
        elif mirror.model in names:
            problems.append(
                f"spec.mirror.name: {mirror.model!r} is also a candidate; the mirror must be a "
                "model outside the split"
            )
        if not 1 <= mirror.percent <= 100:
            problems.append(f"spec.mirror.percent: must be from 1 to 100, got {mirror.percent}")
    return problems


def _candidate_problems(spec: ExperimentSpec) -> list[str]:
    problems: list[str] = []
    count = len(spec.candidates)
    if count == 0:
        problems.append("spec.candidates: at least one candidate is required")
    elif count == 1 and spec.mirror is None:
        problems.append(
            "spec.candidates: at least 2 candidates are required to split traffic (one is "
            "enough with a spec.mirror)"
        )
    first_at: dict[str, int] = {}
    for index, candidate in enumerate(spec.candidates):
        path = f"spec.candidates[{index}]"
        bad_name = name_problem(f"{path}.name", candidate.model, "model name")
        if bad_name is not None:
            problems.append(bad_name)
        elif candidate.model in first_at:
            problems.append(
                f"{path}.name: duplicate candidate {candidate.model!r} (also "
                f"spec.candidates[{first_at[candidate.model]}])"
            )
        else:
            first_at[candidate.model] = index
        if candidate.weight < 1:
            problems.append(f"{path}.weight: must be a positive integer, got {candidate.weight}")
        elif candidate.weight > MAX_WEIGHT:
            problems.append(f"{path}.weight: must be at most {MAX_WEIGHT}, got {candidate.weight}")
    return problems


def experiment_to_proto(spec: ExperimentSpec) -> admin_pb2.ExperimentSpec:
    message = admin_pb2.ExperimentSpec(
        name=spec.name,
        default_model=spec.default_model,
        candidates=[
            admin_pb2.ExperimentCandidate(model=c.model, weight=c.weight) for c in spec.candidates
        ],
    )
    if spec.mirror is not None:
        message.mirror.CopyFrom(
            admin_pb2.ExperimentMirror(model=spec.mirror.model, percent=spec.mirror.percent)
        )
    return message


def experiment_from_proto(message: admin_pb2.ExperimentSpec) -> ExperimentSpec:
    mirror = None
    if message.HasField("mirror"):
        mirror = ExperimentMirror(model=message.mirror.model, percent=message.mirror.percent)
    return ExperimentSpec(
        name=message.name,
        candidates=tuple(
            ExperimentCandidate(model=c.model, weight=c.weight) for c in message.candidates
        ),
        default_model=message.default_model,
        mirror=mirror,
    )
