"""Resources (brief §2): Model, Experiment and Pipeline specs as records, their validation,
their YAML."""

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
from loadmaster.resources.pipeline_check import ModelTensors, check_pipeline, check_tensors
from loadmaster.resources.pipeline_refs import TensorRef, parse_ref
from loadmaster.resources.pipeline_spec import (
    JoinType,
    PipelineOutput,
    PipelineSpec,
    PipelineStep,
    pipeline_from_proto,
    pipeline_to_proto,
)
from loadmaster.resources.pipeline_state import PipelineState
from loadmaster.resources.yaml_docs import (
    ResourceError,
    load_experiment_files,
    load_experiments,
    load_pipeline_files,
    load_pipelines,
    load_resource_files,
    load_resources,
)

__all__ = [
    "ExperimentCandidate",
    "ExperimentMirror",
    "ExperimentSpec",
    "ExperimentState",
    "JoinType",
    "ModelSpec",
    "ModelTensors",
    "PipelineOutput",
    "PipelineSpec",
    "PipelineState",
    "PipelineStep",
    "ResourceError",
    "TensorRef",
    "check_experiment",
    "check_pipeline",
    "check_spec",
    "check_tensors",
    "experiment_from_proto",
    "experiment_to_proto",
    "load_experiment_files",
    "load_experiments",
    "load_pipeline_files",
    "load_pipelines",
    "load_resource_files",
    "load_resources",
    "parse_ref",
    "pipeline_from_proto",
    "pipeline_to_proto",
    "spec_from_proto",
    "spec_to_proto",
]
