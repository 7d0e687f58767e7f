"""The route table gateways follow: every model, with the replicas that may take traffic.

A replica is routable when it is `Available` on a server that is not `Lost` (a draining server
still serves until its replicas are unloaded). A replica leaves the table in the same critical
section that orders its unload, so gateways stop sending to it before the agent stops serving
it; a request already on its way is retried by the gateway on another replica.
"""

from __future__ import annotations

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.model_state import ServerState
from loadmaster.replica_state import ReplicaState
from scheduler.core import SchedulerCore
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
            if record.state is not ReplicaState.AVAILABLE or server is None:
                continue
            if server.state is ServerState.LOST:
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
