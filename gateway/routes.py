"""The route table as the gateway holds it: immutable records built from the scheduler's stream.

Each `RouteTable` message is a complete snapshot, so the gateway swaps one frozen table for the
next in a single assignment: a request in flight keeps the table it started with, and no request
ever sees half an update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway.experiments import Experiment
from gateway.pipeline.table import PipelineEntry
from loadmaster.generated.scheduler.v1 import admin_pb2 as pb


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One replica that may take traffic: a model version on a server, with its addresses."""

    server: str
    version: int
    http: str  # HOST:PORT of the agent's OIP REST
    grpc: str  # HOST:PORT of the agent's OIP gRPC

    @property
    def key(self) -> tuple[str, int]:
        """What identifies the replica; the addresses are how to reach it."""
        return (self.server, self.version)


@dataclass(frozen=True, slots=True)
class Route:
    """A model the scheduler knows, with its state and reason so a 503 can say why."""

    model: str
    version: int
    state: str
    reason: str
    endpoints: tuple[Endpoint, ...] = ()

    def endpoints_for(self, version: int | None = None) -> tuple[Endpoint, ...]:
        """The replicas of `version`, or of any routable version when none is asked for."""
        if version is None:
            return self.endpoints
        return tuple(e for e in self.endpoints if e.version == version)

    def why_unavailable(self) -> str:
        """`ModelProgressing: reason`, or just the state when the scheduler gave no reason."""
        return f"{self.state}: {self.reason}" if self.reason else self.state


def _empty_routes() -> Mapping[str, Route]:
    return MappingProxyType({})


def _empty_experiments() -> Mapping[str, Experiment]:
    return MappingProxyType({})


def _empty_pipelines() -> Mapping[str, PipelineEntry]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Every model by name, every experiment by name and by the model it takes over, and every
    pipeline by name; empty (generation 0) until the scheduler's first message."""

    generation: int = 0
    routes: Mapping[str, Route] = field(default_factory=_empty_routes)
    experiments: Mapping[str, Experiment] = field(default_factory=_empty_experiments)
    takeovers: Mapping[str, Experiment] = field(default_factory=_empty_experiments)
    pipelines: Mapping[str, PipelineEntry] = field(default_factory=_empty_pipelines)

    @classmethod
    def from_proto(cls, msg: pb.RouteTable) -> RouteTable:
        routes = {
            m.model: Route(
                model=m.model,
                version=m.version,
                state=m.state,
                reason=m.reason,
                endpoints=tuple(
                    Endpoint(e.server, e.version, e.http_endpoint, e.grpc_endpoint)
                    for e in m.endpoints
                ),
            )
            for m in msg.models
        }
        experiments = {e.spec.name: Experiment.from_proto(e) for e in msg.experiments}
        takeovers = {e.default_model: e for e in experiments.values() if e.default_model}
        pipelines = {p.spec.name: PipelineEntry.from_proto(p) for p in msg.pipelines}
        return cls(
            generation=msg.generation,
            routes=MappingProxyType(routes),
            experiments=MappingProxyType(experiments),
            takeovers=MappingProxyType(takeovers),
            pipelines=MappingProxyType(pipelines),
        )

    def lookup(self, model: str) -> Route | None:
        return self.routes.get(model)
