"""Resources (brief §2): Model and Experiment specs as records, their validation, their YAML."""

from loadmaster.resources.experiment_spec import (
    ExperimentCandidate,
    ExperimentMirror,
    ExperimentSpec,
    check_experiment,
    experiment_from_proto,
    experiment_to_proto,
)
from loadmaster.resources.experiment_state import ExperimentState
from loadmaster.resources.model_spec import ModelSpec, check_spec, spec_from_proto, spec_to_proto
from loadmaster.resources.yaml_docs import (
    ResourceError,
    load_experiment_files,
    load_experiments,
    load_resource_files,
    load_resources,
)

__all__ = [
    "ExperimentCandidate",
    "ExperimentMirror",
    "ExperimentSpec",
    "ExperimentState",
    "ModelSpec",
    "ResourceError",
    "check_experiment",
    "check_spec",
    "experiment_from_proto",
    "experiment_to_proto",
    "load_experiment_files",
    "load_experiments",
    "load_resource_files",
    "load_resources",
    "spec_from_proto",
    "spec_to_proto",
]
