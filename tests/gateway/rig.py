"""A gateway's REST app on loopback with fake agents behind it and a route table set directly."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from gateway.balancer import Balancer
from gateway.config import GatewayConfig
from gateway.experiments import Experiment
from gateway.metrics import GatewayMetrics
from gateway.proxy import Proxy
from gateway.rest import GatewayRest
from gateway.routes import Endpoint, Route, RouteTable
from gateway.targets import Targets
from gateway.upstream import Upstream
from tests.gateway.fakes import FakeAgent, FirstTwo, start_app

LIMIT = 4096


@dataclass
class Rig:
    targets: Targets
    balancer: Balancer
    registry: CollectorRegistry
    client: aiohttp.ClientSession
    url: str
    agents: dict[str, FakeAgent] = field(default_factory=dict)
    runners: list[web.AppRunner] = field(default_factory=list)
    generation: int = 0

    async def agent(self, name: str) -> FakeAgent:
        agent = FakeAgent(name)
        runner, agent.address = await start_app(agent.app())
        self.runners.append(runner)
        self.agents[name] = agent
        return agent

    def routes(self, *routes: Route, experiments: tuple[Experiment, ...] = ()) -> None:
        self.generation += 1
        self.targets.set_table(
            RouteTable(
                self.generation,
                {r.model: r for r in routes},
                {e.name: e for e in experiments},
                {e.default_model: e for e in experiments if e.default_model},
            )
        )

    def sample(self, name: str, **labels: str) -> float:
        """A metric's value; `protocol` is "rest" unless given."""
        return self.registry.get_sample_value(name, {"protocol": "rest", **labels}) or 0.0


def endpoint(agent: FakeAgent | str, version: int = 1) -> Endpoint:
    """A replica on `agent`, or on a server called `agent` reached at an address given as
    `name@HOST:PORT` (a closed port, say)."""
    if isinstance(agent, FakeAgent):
        return Endpoint(agent.name, version, agent.address, "")
    name, _, address = agent.partition("@")
    return Endpoint(name, version, address, "")


def route(
    model: str,
    *endpoints: Endpoint,
    state: str = "ModelAvailable",
    reason: str = "",
) -> Route:
    version = max((e.version for e in endpoints), default=1)
    return Route(model, version, state, reason, tuple(endpoints))


async def make_rig(
    rng: random.Random | None = None,
    upstream_timeout_s: float = 5.0,
    split_rng: random.Random | None = None,
) -> AsyncIterator[Rig]:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    upstream = Upstream(connections_per_endpoint=8)
    balancer = Balancer(rng or FirstTwo())
    config = GatewayConfig(http_port=0, max_body_bytes=LIMIT, upstream_timeout_s=upstream_timeout_s)
    targets = Targets(config.scheduler, rng=split_rng)
    proxy = Proxy(balancer, metrics)
    rest = GatewayRest(config, targets, proxy, upstream, metrics, lambda: generate_latest(registry))
    runner, address = await start_app(rest.app())
    async with aiohttp.ClientSession() as client:
        rig = Rig(targets, balancer, registry, client, f"http://{address}")
        try:
            yield rig
        finally:
            await runner.cleanup()
            await upstream.close()
            for agent_runner in rig.runners:
                await agent_runner.cleanup()
