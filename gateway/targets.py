"""The route table as both front doors read it: which replicas may serve a request, or why none.

REST and gRPC make the same decisions (404 for a name the scheduler does not know, 503 with the
model's state and reason when nothing is routable, the replicas reachable over the door's own
protocol), so they are made here once. `resolve` is the one place where a name a client sent
becomes the model that serves it; experiments hook in there.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from gateway.experiments import Experiment, Hit, experiment_named
from gateway.metrics import UNKNOWN_MODEL
from gateway.routes import Endpoint, Route, RouteTable
from gateway.traffic import TrafficCounts
from loadmaster.oip import errors


class Protocol(enum.Enum):
    """The protocol a request came in with, which is the one it goes on to the agent with."""

    REST = "rest"
    GRPC = "grpc"

    def address(self, endpoint: Endpoint) -> str:
        """The agent's address for this protocol; "" when it does not serve it."""
        return endpoint.http if self is Protocol.REST else endpoint.grpc


def _reachable(route: Route, version: int | None, protocol: Protocol) -> tuple[Endpoint, ...]:
    """`route`'s replicas (of `version`, when asked) that serve `protocol`."""
    endpoints = route.endpoints_for(version)
    if protocol is Protocol.REST:
        return tuple(e for e in endpoints if e.http)
    return tuple(e for e in endpoints if e.grpc)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes: the model that serves the name asked for, and the version that
    applies. When another model serves the name (`renamed`), the client's version is not
    that model's, so none applies; gRPC requests are then renamed on the way (`wire.rename`)."""

    model: str
    version: int | None
    renamed: bool = False
    hit: Hit | None = None  # the experiment that chose `model`, if one did
    mirror: str | None = None  # a model that also gets a copy, its answer discarded
    # the replicas found ready while deciding (the first attempt's candidates), when known;
    # not part of the decision, so not compared
    endpoints: tuple[Endpoint, ...] | None = field(default=None, compare=False)


class Targets:
    """Holds the current route table; `set_table` is what the route follower calls.

    The table is swapped whole, so a request that looked it up keeps a consistent view, and a
    retry that asks again sees a table that arrived meanwhile.
    """

    def __init__(
        self,
        scheduler: str,
        counts: TrafficCounts | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.table = RouteTable()
        self.received = False  # ready once the scheduler's first table has arrived
        self.counts = counts if counts is not None else TrafficCounts()
        self._rng = rng or random.Random()

    def set_table(self, table: RouteTable) -> None:
        self.table = table
        self.received = True
        self.counts.retain((e.name, e.uid) for e in table.experiments.values())

    def resolve(self, name: str) -> Route | None:
        """The model route `name` names, or None when no model has that name."""
        return self.table.lookup(name)

    def label(self, name: str) -> str:
        """`name` as a metrics label: only names that resolve, so clients cannot grow the set."""
        known = (
            self.resolve(name) is not None
            or experiment_named(name, self.table.experiments, self.table.takeovers)[0] is not None
        )
        return name if known else UNKNOWN_MODEL

    def endpoints(
        self, model: str, version: int | None, protocol: Protocol
    ) -> tuple[Endpoint, ...]:
        """The replicas of `model` (of `version`, when asked) reachable over `protocol`, in the
        table as it is now; `model` is a resolved model's own name."""
        route = self.table.lookup(model)
        if route is None:
            return ()
        return _reachable(route, version, protocol)

    def require(
        self,
        name: str,
        version: int | None,
        protocol: Protocol,
        sticky: str | None = None,
        counted: bool = True,
    ) -> Target:
        """Where a request for `name` goes; ModelNotFound for a name the scheduler does not know,
        ModelNotReady (saying why) when no replica can take it, so a client can tell a typo
        from a model that is still loading. `name` may address an experiment, which then
        chooses the model (keeping to `sticky`, the route header the client echoed); only
        `counted` requests (inferences) count towards its split and draw the mirror."""
        if not self.received:
            raise errors.ModelNotReady(
                f"model '{name}' cannot be routed yet: no route table from the scheduler "
                f"at {self.scheduler} so far"
            )
        experiment, suffixed = experiment_named(name, self.table.experiments, self.table.takeovers)
        if experiment is not None:
            return self._through(experiment, name, version, protocol, sticky, counted)
        if suffixed:
            raise errors.ModelNotFound(f"experiment '{name}' not found")
        route = self.resolve(name)
        if route is None:
            raise errors.ModelNotFound(f"model '{name}' not found")
        serving = version if route.model == name else None
        endpoints = _reachable(route, serving, protocol)
        if not endpoints:
            what = f"model '{name}'" if version is None else f"model '{name}' version '{version}'"
            raise errors.ModelNotReady(f"{what} has no ready replica ({route.why_unavailable()})")
        if route.model != name:
            return Target(route.model, None, True, endpoints=endpoints)
        return Target(name, version, endpoints=endpoints)

    def _through(
        self,
        experiment: Experiment,
        name: str,
        version: int | None,
        protocol: Protocol,
        sticky: str | None,
        counted: bool,
    ) -> Target:
        """The candidate `experiment` picks for this request, counted; the mirror when drawn."""

        def ready(model: str) -> bool:
            return bool(self.endpoints(model, None, protocol))

        candidate = experiment.choose(ready, sticky, self._rng)
        if candidate is None:
            waiting = "; ".join(f"'{c.model}' {self._why(c.model)}" for c in experiment.candidates)
            raise errors.ModelNotReady(
                f"experiment '{experiment.name}' has no candidate with a ready replica ({waiting})"
            )
        model = candidate.model
        mirror = None
        if counted:
            self.counts.count(experiment.name, experiment.uid, model)
        drawn = experiment.mirror if counted and experiment.mirrors(self._rng) else None
        if drawn is not None and ready(drawn.model):
            mirror = drawn.model
            self.counts.count(experiment.name, experiment.uid, mirror, mirror=True)
        own = model == name  # a takeover that chose the model itself keeps the client's version
        return Target(
            model,
            version if own else None,
            renamed=not own,
            hit=Hit(experiment.name, experiment.uid, model),
            mirror=mirror,
        )

    def _why(self, model: str) -> str:
        route = self.table.lookup(model)
        return "is not loaded" if route is None else f"is {route.why_unavailable()}"

    def not_ready_reason(self, name: str, version: int | None, protocol: Protocol) -> str | None:
        """None when `name` is ready to serve, else why not; ModelNotFound for an unknown name."""
        try:
            self.require(name, version, protocol, counted=False)
        except errors.ModelNotReady as exc:
            return exc.message
        return None
