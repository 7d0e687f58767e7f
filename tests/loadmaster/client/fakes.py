"""Stand-ins for the scheduler's admin API and an agent's OIP REST endpoint, on loopback.

The fake scheduler keeps models and experiments in dicts and answers with the real status
codes (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION), so the CLI is driven through real
gRPC and HTTP without any of the scheduler's machinery. Tests change a model's state with
`set_state`, which also feeds the status subscriptions, as the real scheduler does on every
change. An experiment's status is derived from the fake's models the way the scheduler derives
it (ready when every model it names is ModelAvailable), with the traffic counts last reported.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc

from loadmaster.generated.scheduler.v1 import admin_pb2, admin_pb2_grpc
from loadmaster.resources import spec_from_proto
from tests.loadmaster.client.pipeline_fakes import PipelineFakes

REJECTED_URI = "reject://"


class FakeScheduler(PipelineFakes, admin_pb2_grpc.SchedulerAdminServicer):
    def __init__(self) -> None:
        self.init_pipelines()
        self.models: dict[str, admin_pb2.ModelStatusResponse] = {}
        self.servers: dict[str, admin_pb2.ServerStatusResponse] = {}
        self.unloaded: list[str] = []
        self.experiments: dict[str, tuple[admin_pb2.ExperimentSpec, int]] = {}
        self.traffic: dict[tuple[str, str, str, int, str, bool], int] = {}
        self._uids = 0
        self._changed = threading.Condition()
        self._generation = 0

    def set_state(
        self,
        name: str,
        state: str,
        reason: str = "",
        replicas: list[admin_pb2.ReplicaStatus] | None = None,
    ) -> None:
        with self._changed:
            status = self.models[name]
            status.state = state
            status.reason = reason
            if replicas is not None:
                del status.replicas[:]
                status.replicas.extend(replicas)
            status.available_replicas = sum(r.state == "Available" for r in status.replicas)
            self._generation += 1
            self._changed.notify_all()

    def LoadModel(
        self, request: admin_pb2.LoadModelRequest, context: grpc.ServicerContext
    ) -> admin_pb2.LoadModelResponse:
        spec = request.spec
        if spec.storage_uri == REJECTED_URI:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "spec.storageUri: scheme refused")
        with self._changed:
            old = self.models.get(spec.name)
            if old is not None and old.spec == spec:
                return admin_pb2.LoadModelResponse(name=spec.name, version=old.version)
            version = 1
            if old is not None:
                same = spec_from_proto(old.spec).version_fields()
                version = old.version + (same != spec_from_proto(spec).version_fields())
            self.models[spec.name] = admin_pb2.ModelStatusResponse(
                name=spec.name,
                version=version,
                state="ModelProgressing",
                scheduling="Full",
                desired_replicas=spec.replicas,
                spec=spec,
            )
            self._generation += 1
            self._changed.notify_all()
        return admin_pb2.LoadModelResponse(name=spec.name, version=version, changed=True)

    def UnloadModel(
        self, request: admin_pb2.UnloadModelRequest, context: grpc.ServicerContext
    ) -> admin_pb2.UnloadModelResponse:
        self._model(request.name, context)
        self.unloaded.append(request.name)
        self.set_state(request.name, "ModelTerminating")
        return admin_pb2.UnloadModelResponse()

    def ModelStatus(
        self, request: admin_pb2.ModelStatusRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ModelStatusResponse:
        return self._model(request.name, context)

    def ListModels(
        self, request: admin_pb2.ListModelsRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListModelsResponse:
        return admin_pb2.ListModelsResponse(models=list(self.models.values()))

    def ServerStatus(
        self, request: admin_pb2.ServerStatusRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ServerStatusResponse:
        server = self.servers.get(request.name)
        if server is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"server {request.name} not found")
        return server

    def ListServers(
        self, request: admin_pb2.ListServersRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListServersResponse:
        return admin_pb2.ListServersResponse(servers=list(self.servers.values()))

    def SchedulerStatus(
        self, request: admin_pb2.SchedulerStatusRequest, context: grpc.ServicerContext
    ) -> admin_pb2.SchedulerStatusResponse:
        return admin_pb2.SchedulerStatusResponse(version="test", store="memory://", leader=True)

    def SubscribeModelStatus(
        self, request: admin_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[admin_pb2.ModelStatusResponse]:
        """The current status of each matching model, then a fresh copy on every change."""
        seen = -1
        while context.is_active():
            with self._changed:
                if seen == self._generation:
                    self._changed.wait(timeout=0.05)
                    continue
                seen = self._generation
                matching = [_copy(m) for m in self.models.values() if request.name in ("", m.name)]
            yield from matching

    def SubscribeServerStatus(
        self, request: admin_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[admin_pb2.ServerStatusResponse]:
        yield from self.servers.values()

    def SubscribeRoutes(
        self, request: admin_pb2.SubscribeRoutesRequest, context: grpc.ServicerContext
    ) -> Iterator[admin_pb2.RouteTable]:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the CLI does not follow routes")

    def StartExperiment(
        self, request: admin_pb2.StartExperimentRequest, context: grpc.ServicerContext
    ) -> admin_pb2.StartExperimentResponse:
        spec = request.spec
        with self._changed:
            old = self.experiments.get(spec.name)
            if old is not None and old[0] == spec:
                return admin_pb2.StartExperimentResponse(name=spec.name, uid=old[1])
            for name, (other, _) in self.experiments.items():
                taken = other.default_model == spec.default_model and name != spec.name
                if spec.default_model and taken:
                    context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"spec.default: model {spec.default_model!r} is already taken over by "
                        f"experiment {name!r}",
                    )
            self._uids += 1
            self.experiments[spec.name] = (spec, self._uids)
        return admin_pb2.StartExperimentResponse(name=spec.name, uid=self._uids, changed=True)

    def StopExperiment(
        self, request: admin_pb2.StopExperimentRequest, context: grpc.ServicerContext
    ) -> admin_pb2.StopExperimentResponse:
        if self.experiments.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"experiment '{request.name}' not found")
        return admin_pb2.StopExperimentResponse()

    def ExperimentStatus(
        self, request: admin_pb2.ExperimentStatusRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ExperimentStatusResponse:
        if request.name not in self.experiments:
            context.abort(grpc.StatusCode.NOT_FOUND, f"experiment '{request.name}' not found")
        return self._experiment(request.name)

    def ListExperiments(
        self, request: admin_pb2.ListExperimentsRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListExperimentsResponse:
        return admin_pb2.ListExperimentsResponse(
            experiments=[self._experiment(name) for name in self.experiments]
        )

    def ReportTraffic(
        self, request: admin_pb2.TrafficReport, context: grpc.ServicerContext
    ) -> admin_pb2.TrafficReportResponse:
        for line in request.traffic:
            key = (request.gateway, request.instance, line.experiment, line.uid, line.model)
            self.traffic[(*key, line.mirror)] = line.requests
        return admin_pb2.TrafficReportResponse()

    def _experiment(self, name: str) -> admin_pb2.ExperimentStatusResponse:
        """Derived as the scheduler derives it, from the fake's models and reported counts."""
        spec, uid = self.experiments[name]
        mine = {
            (model, mirror): requests
            for (_, _, experiment, at, model, mirror), requests in self.traffic.items()
            if experiment == name and at == uid
        }
        total = sum(r for (_, mirror), r in mine.items() if not mirror)
        weights = sum(c.weight for c in spec.candidates)

        def candidate(model: str, weight: int, mirror: bool) -> admin_pb2.CandidateStatus:
            status = self.models.get(model)
            requests = mine.get((model, mirror), 0)
            expected = spec.mirror.percent / 100 if mirror else weight / weights
            return admin_pb2.CandidateStatus(
                model=model,
                weight=weight,
                model_state=status.state if status is not None else "",
                ready=status is not None and status.state == "ModelAvailable",
                requests=requests,
                observed_share=requests / total if total else 0.0,
                expected_share=expected,
            )

        candidates = [candidate(c.model, c.weight, False) for c in spec.candidates]
        everyone = list(candidates)
        out = admin_pb2.ExperimentStatusResponse(
            name=name, uid=uid, spec=spec, candidates=candidates, total_requests=total
        )
        if spec.HasField("mirror"):
            out.mirror.CopyFrom(candidate(spec.mirror.model, 0, True))
            everyone.append(out.mirror)
        waiting = [c.model for c in everyone if not c.ready]
        out.state = "ExperimentWaiting" if waiting else "ExperimentReady"
        out.reason = "not ready: " + ", ".join(waiting) if waiting else ""
        return out

    def _model(self, name: str, context: grpc.ServicerContext) -> admin_pb2.ModelStatusResponse:
        status = self.models.get(name)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"model {name} not found")
        return _copy(status)


def _copy(status: admin_pb2.ModelStatusResponse) -> admin_pb2.ModelStatusResponse:
    out = admin_pb2.ModelStatusResponse()
    out.CopyFrom(status)
    return out


@dataclass
class FakeAgent:
    """An agent's `/v2/models/NAME/infer`: echoes the request's input names back as outputs;
    `errors` maps a model name to the (status, message) it fails with."""

    requests: list[tuple[str, object]] = field(default_factory=list)
    errors: dict[str, tuple[int, str]] = field(default_factory=dict)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                agent.requests.append((self.path, body))
                model = self.path.split("/")[3]
                if model in agent.errors:
                    status, message = agent.errors[model]
                    self._answer(status, {"error": message})
                    return
                outputs = [
                    {"name": i["name"], "datatype": "FP32", "shape": [1], "data": [0.5]}
                    for i in body["inputs"]
                ]
                self._answer(200, {"model_name": model, "outputs": outputs})

            def _answer(self, status: int, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


def start_grpc(fake: FakeScheduler) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    admin_pb2_grpc.add_SchedulerAdminServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def start_http(agent: FakeAgent) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), agent.handler())
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"127.0.0.1:{httpd.server_address[1]}"
