"""The experiment half of the SchedulerAdmin gRPC service (docs/experiments.md).

`SchedulerAdminService` inherits these calls, so there is one service on the admin port; they
live apart because experiments are their own resource with their own rules. Start and stop
return once the change is stored; status and list answer from memory; `ReportTraffic` is how
gateways tell the scheduler how many requests each candidate got.
"""

from __future__ import annotations

import grpc

from loadmaster import logs
from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from loadmaster.resources import experiment_from_proto
from scheduler.core import SchedulerCore
from scheduler.experiment_admin import (
    DefaultTaken,
    UnknownExperiment,
    start_experiment,
    stop_experiment,
)
from scheduler.experiment_traffic import TrafficEntry
from scheduler.experiment_views import experiment_message
from scheduler.model_admin import InvalidSpec
from scheduler.store import StoreError

Context = grpc.aio.ServicerContext[object, object]
log = logs.get_logger("scheduler.admin")


class ExperimentAdmin(admin_pb2_grpc.SchedulerAdminServicer):
    core: SchedulerCore

    async def StartExperiment(
        self, request: pb.StartExperimentRequest, context: Context
    ) -> pb.StartExperimentResponse:
        if not request.HasField("spec"):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "StartExperimentRequest.spec is missing"
            )
        try:
            started = await start_experiment(self.core, experiment_from_proto(request.spec))
        except InvalidSpec as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except DefaultTaken as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the store is unavailable: {exc}")
        return pb.StartExperimentResponse(
            name=request.spec.name, uid=started.uid, changed=started.changed
        )

    async def StopExperiment(
        self, request: pb.StopExperimentRequest, context: Context
    ) -> pb.StopExperimentResponse:
        try:
            await stop_experiment(self.core, request.name)
        except UnknownExperiment as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the store is unavailable: {exc}")
        return pb.StopExperimentResponse()

    async def ExperimentStatus(
        self, request: pb.ExperimentStatusRequest, context: Context
    ) -> pb.ExperimentStatusResponse:
        record = self.core.state.experiments.get(request.name)
        if record is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"experiment '{request.name}' not found")
        return experiment_message(self.core, record)

    async def ListExperiments(
        self, request: pb.ListExperimentsRequest, context: Context
    ) -> pb.ListExperimentsResponse:
        records = sorted(self.core.state.experiments.values(), key=lambda e: e.name)
        return pb.ListExperimentsResponse(
            experiments=[experiment_message(self.core, r) for r in records]
        )

    async def ReportTraffic(
        self, request: pb.TrafficReport, context: Context
    ) -> pb.TrafficReportResponse:
        """Counts for a stopped experiment, an older uid or a model the experiment does not
        name are dropped without an error: a gateway reports what it routed, and a report that
        crosses a change is normal, not a mistake."""
        for field in ("gateway", "instance"):
            if not getattr(request, field):
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"TrafficReport.{field} must not be empty: counts are kept per gateway "
                    "and per gateway process",
                )
        experiments = self.core.state.experiments
        ignored = 0
        for line in request.traffic:
            entry = TrafficEntry(line.experiment, line.uid, line.model, line.requests, line.mirror)
            current = experiments.get(entry.experiment)
            ignored += not self.core.traffic.record(
                request.gateway, request.instance, entry, current
            )
        if ignored:
            log.debug(
                "traffic counts ignored",
                gateway=request.gateway,
                instance=request.instance,
                ignored=ignored,
            )
        return pb.TrafficReportResponse()
