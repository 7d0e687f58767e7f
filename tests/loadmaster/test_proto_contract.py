"""Wire facts third-party clients depend on (brief §5): a proto edit must not move them."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor

from loadmaster.generated.agentapi.v1 import agent_pb2
from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2

FIELD_NUMBERS = [
    (pb.ModelInferRequest.DESCRIPTOR, "model_name", 1),
    (pb.ModelInferRequest.DESCRIPTOR, "model_version", 2),
    (pb.ModelInferRequest.DESCRIPTOR, "id", 3),
    (pb.ModelInferRequest.DESCRIPTOR, "parameters", 4),
    (pb.ModelInferRequest.DESCRIPTOR, "inputs", 5),
    (pb.ModelInferRequest.DESCRIPTOR, "outputs", 6),
    (pb.ModelInferRequest.DESCRIPTOR, "raw_input_contents", 7),
    (pb.ModelInferResponse.DESCRIPTOR, "raw_output_contents", 6),
    (pb.InferParameter.DESCRIPTOR, "double_param", 4),
    (pb.InferParameter.DESCRIPTOR, "uint64_param", 5),
    (pb.ModelStreamInferResponse.DESCRIPTOR, "error_message", 1),
    (pb.ModelStreamInferResponse.DESCRIPTOR, "infer_response", 2),
    (pb.RepositoryModelLoadRequest.DESCRIPTOR, "repository_name", 1),
    (pb.RepositoryModelLoadRequest.DESCRIPTOR, "model_name", 2),
    (pb.RepositoryModelLoadRequest.DESCRIPTOR, "parameters", 3),
]


@pytest.mark.parametrize(("message", "field", "number"), FIELD_NUMBERS)
def test_oip_field_numbers(message: Descriptor, field: str, number: int) -> None:
    assert message.fields_by_name[field].number == number


def test_oip_service_and_package_names() -> None:
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert pb.DESCRIPTOR.package == "inference"
    assert {m.name for m in service.methods} >= {
        "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata",
        "ModelInfer", "ModelStreamInfer", "RepositoryIndex", "RepositoryModelLoad",
        "RepositoryModelUnload",
    }  # fmt: skip
    stream = service.methods_by_name["ModelStreamInfer"]
    assert stream.output_type.name == "ModelStreamInferResponse"


def test_control_plane_packages() -> None:
    assert admin_pb2.DESCRIPTOR.package == "loadmaster.scheduler.v1"
    assert agent_pb2.DESCRIPTOR.package == "loadmaster.agent.v1"
    admin = admin_pb2.DESCRIPTOR.services_by_name["SchedulerAdmin"]
    assert {m.name for m in admin.methods} == {
        "LoadModel", "UnloadModel", "ModelStatus", "ListModels", "ServerStatus", "ListServers",
        "SchedulerStatus", "SubscribeModelStatus", "SubscribeServerStatus", "SubscribeRoutes",
        "StartExperiment", "StopExperiment", "ExperimentStatus", "ListExperiments",
        "ReportTraffic", "LoadPipeline", "UnloadPipeline", "PipelineStatus", "ListPipelines",
    }  # fmt: skip
    report = admin.methods_by_name["ReportTraffic"]
    assert (report.input_type.name, report.output_type.name) == (
        "TrafficReport",
        "TrafficReportResponse",
    )


# The experiment contract gateways are built against (docs/experiments.md): numbers are fixed.
EXPERIMENT_FIELDS = [
    ("ExperimentCandidate", {"model": 1, "weight": 2}),
    ("ExperimentMirror", {"model": 1, "percent": 2}),
    ("ExperimentSpec", {"name": 1, "default_model": 2, "candidates": 3, "mirror": 4}),
    ("StartExperimentRequest", {"spec": 1}),
    ("StartExperimentResponse", {"name": 1, "uid": 2, "changed": 3}),
    ("StopExperimentRequest", {"name": 1}),
    ("ExperimentStatusRequest", {"name": 1}),
    (
        "CandidateStatus",
        {"model": 1, "weight": 2, "model_state": 3, "ready": 4, "requests": 5,
         "observed_share": 6, "expected_share": 7},
    ),
    (
        "ExperimentStatusResponse",
        {"name": 1, "uid": 2, "state": 3, "reason": 4, "spec": 5, "candidates": 6, "mirror": 7,
         "total_requests": 8},
    ),
    ("ListExperimentsResponse", {"experiments": 1}),
    ("ExperimentRoute", {"spec": 1, "uid": 2}),
    ("RouteTable", {"generation": 1, "models": 2, "experiments": 3, "pipelines": 4}),
    ("PipelineRoute", {"spec": 1, "version": 2, "state": 3, "reason": 4}),
    ("PipelineSpec", {"name": 1, "steps": 2, "output": 3, "keep_topics": 4}),
    ("ExperimentTraffic", {"experiment": 1, "uid": 2, "model": 3, "requests": 4, "mirror": 5}),
    ("TrafficReport", {"gateway": 1, "instance": 2, "traffic": 3}),
    ("TrafficReportResponse", {}),
    ("StopExperimentResponse", {}),
    ("ListExperimentsRequest", {}),
]  # fmt: skip


@pytest.mark.parametrize(("message", "fields"), EXPERIMENT_FIELDS)
def test_experiment_contract(message: str, fields: dict[str, int]) -> None:
    descriptor = admin_pb2.DESCRIPTOR.message_types_by_name[message]
    assert {f.name: f.number for f in descriptor.fields} == fields
