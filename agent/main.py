"""The agent process: worker pool, data plane, REST and gRPC servers, graceful shutdown.

Joined to a scheduler (`--scheduler`), the agent also keeps a stream to it, and a stop first
drains: the scheduler moves the replicas away while this agent still serves them.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CollectorRegistry

from agent.artifacts import ArtifactCache
from agent.config import AgentConfig
from agent.dataplane import DataPlane
from agent.gpus import discover_gpus
from agent.grpc_server import build_server
from agent.link import Registration, SchedulerLink
from agent.metrics import AgentMetrics
from agent.rest import RestApi, render_registry
from agent.workers.pool import WorkerPool
from loadmaster import logs
from loadmaster.process import run_service, stop_on_signals

log = logs.get_logger("agent")


async def serve(config: AgentConfig, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT arrives)."""
    stop = stop_on_signals(stop or asyncio.Event())

    registry = CollectorRegistry()
    metrics = AgentMetrics(registry)
    pool = WorkerPool(config.parallel_workers, on_restart=metrics.worker_restarts.inc)
    await pool.start()
    cache = ArtifactCache(config.cache_dir)
    await asyncio.to_thread(cache.sweep_tmp)  # leftovers of a crash; entries are never half-written
    plane = DataPlane(config, pool, cache, metrics)

    runner = web.AppRunner(RestApi(plane, render_registry(registry)).app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.http_port, backlog=2048, reuse_address=True)
    await site.start()
    grpc_server = build_server(plane, config.host, config.grpc_port)
    await grpc_server.start()
    log.info(
        "agent serving",
        name=config.name,
        http=f"{config.host}:{config.http_port}",
        grpc=f"{config.host}:{config.grpc_port}",
        workers=config.parallel_workers,
        capabilities=sorted(config.capabilities),
    )
    link: SchedulerLink | None = None
    try:
        if config.scheduler is None:
            await plane.load_models_dir()
        else:
            gpus = await asyncio.to_thread(discover_gpus)
            link = SchedulerLink(config.scheduler, plane, Registration.from_config(config, gpus))
            link.start()
        plane.starting = False
        await stop.wait()
        if link is not None:
            log.info("agent draining", name=config.name, timeout_s=config.drain_timeout_s)
            await link.drain(config.drain_timeout_s)
    finally:
        log.info("agent stopping", name=config.name)
        if link is not None:
            await link.close()
        await grpc_server.stop(grace=5)
        await runner.cleanup()
        await pool.close()


def run(config: AgentConfig) -> int:
    run_service(serve(config))
    return 0
