"""The route table gateways follow: every model, with the replicas that may take traffic,
and every experiment (its spec and uid: gateways split by the spec and report counts by uid).

A replica is routable when it is `Available` on a server that is not `Lost` (a draining server
still serves until its replicas are unloaded). A replica leaves the table in the same critical
section that orders its unload, so gateways stop sending to it before the agent stops serving
it; a request already on its way is retried by the gateway on another replica.
"""

from __future__ import annotations

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.model_state import ServerState
from loadmaster.replica_state import ReplicaState
from loadmaster.resources import experiment_to_proto
from scheduler.core import SchedulerCore
from scheduler.records import ReplicaRecord
from scheduler.views import model_status


def route_table(core: SchedulerCore) -> list[pb.ModelRoute]:
    """The table's models, sorted by name; the caller adds the generation."""
    servers = core.state.servers
    routes = []
    for name in sorted(core.state.models):
        model = core.state.models[name]
        endpoints = []
        for record in sorted(core.state.replicas_of(name), key=lambda r: (-r.version, r.server)):
            server = servers.get(record.server)
            if server is None or not is_routable(core, record):
                continue
            endpoints.append(
                pb.RouteEndpoint(
                    server=server.name,
                    version=record.version,
                    http_endpoint=server.http_endpoint,
                    grpc_endpoint=server.grpc_endpoint,
                )
            )
        status = model_status(core, model)
        routes.append(
            pb.ModelRoute(
                model=name,
                version=model.version,
                endpoints=endpoints,
                state=status.state.value,
                reason=status.reason,
            )
        )
    return routes


def is_routable(core: SchedulerCore, record: ReplicaRecord) -> bool:
    """Available on a server the scheduler knows and has not lost."""
    server = core.state.servers.get(record.server)
    if record.state is not ReplicaState.AVAILABLE or server is None:
        return False
    return server.state is not ServerState.LOST


def experiment_routes(core: SchedulerCore) -> list[pb.ExperimentRoute]:
    """Every experiment, sorted by name, whatever the state of its models: a gateway answers
    for a model that has no replica (503 with the model's state), not the scheduler."""
    records = sorted(core.state.experiments.values(), key=lambda e: e.name)
    return [pb.ExperimentRoute(spec=experiment_to_proto(e.spec), uid=e.uid) for e in records]
