"""The gateway process: follow the scheduler's routes, serve OIP REST, stop cleanly.

The site starts listening before the first table arrives: liveness answers at once and
readiness says 503 until the scheduler has been heard from, which is what an orchestrator
needs to hold traffic back without restarting a gateway whose scheduler is slow to come up.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from gateway.balancer import Balancer
from gateway.config import GatewayConfig
from gateway.metrics import GatewayMetrics
from gateway.proxy import Proxy
from gateway.rest import GatewayRest
from gateway.route_follower import RouteFollower
from gateway.upstream import Upstream
from loadmaster import logs
from loadmaster.process import forget_signals, run_service, stop_on_signals

log = logs.get_logger("gateway")


async def serve(config: GatewayConfig, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT arrives)."""
    stop = stop_on_signals(stop or asyncio.Event())

    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    upstream = Upstream(config.connections_per_endpoint)
    rest = GatewayRest(
        config, Proxy(upstream, Balancer(), metrics), metrics, lambda: generate_latest(registry)
    )
    follower = RouteFollower(config.scheduler, config.name, rest.set_table)
    # handler_cancellation: a client that hangs up cancels its handler, and with it the
    # request to the agent, instead of leaving the replica busy on an answer nobody reads.
    runner = web.AppRunner(rest.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.http_port, backlog=2048, reuse_address=True)
        await site.start()
        follower.start()
        log.info(
            "gateway serving",
            name=config.name,
            http=f"{config.host}:{config.http_port}",
            scheduler=config.scheduler,
            grpc="not yet served",
        )
        await stop.wait()
    finally:
        log.info("gateway stopping", name=config.name)
        await follower.close()
        await runner.cleanup()
        await upstream.close()
        forget_signals()


def run(config: GatewayConfig) -> int:
    run_service(serve(config))
    return 0
