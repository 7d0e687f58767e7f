"""The scheduler process: store, reconcile loop, admin and agent gRPC servers, metrics.

A restart is an ordinary start: everything is read back from the store, the agents
re-register on their own (they retry their stream), and the start-up grace
(`SchedulerConfig.grace_s`) holds placement until they have, so nothing is reloaded.
"""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from loadmaster import logs
from loadmaster.generated.agentapi.v1 import agent_pb2_grpc
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from loadmaster.process import run_service, stop_on_signals
from scheduler.admin_service import SchedulerAdminService
from scheduler.agent_service import AgentControlService
from scheduler.cluster import ClusterState
from scheduler.config import SchedulerConfig
from scheduler.core import SchedulerCore
from scheduler.links import AgentLinks
from scheduler.metrics import SchedulerMetrics
from scheduler.reconcile import reconcile_pass
from scheduler.store import Conflict, StoreError, open_store

log = logs.get_logger("scheduler")


class Fatal(Exception):
    """The scheduler must stop: another writer owns the store."""


async def reconcile_forever(core: SchedulerCore, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await core.wait_for_work(core.config.reconcile_interval_s)
        try:
            await reconcile_pass(core)
        except Conflict as exc:
            log.error("another writer changed the scheduler's records; stopping", error=str(exc))
            stop.set()
            raise Fatal(str(exc)) from None
        except StoreError as exc:
            log.warning("reconcile pass failed on the store; retrying", error=str(exc))


async def serve(config: SchedulerConfig, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or SIGTERM/SIGINT arrives."""
    stop = stop_on_signals(stop or asyncio.Event())

    store = await open_store(config.store)
    state = await ClusterState.load(store)
    registry = CollectorRegistry()
    links = AgentLinks()
    core = SchedulerCore(state, links, config, SchedulerMetrics(registry))

    admin = grpc.aio.server()
    admin_pb2_grpc.add_SchedulerAdminServicer_to_server(SchedulerAdminService(core), admin)
    admin.add_insecure_port(f"{config.host}:{config.admin_port}")
    agents = grpc.aio.server()
    agent_pb2_grpc.add_AgentControlServicer_to_server(AgentControlService(core, links), agents)
    agents.add_insecure_port(f"{config.host}:{config.agent_port}")
    await admin.start()
    await agents.start()
    metrics = await _serve_metrics(config, registry)
    log.info(
        "scheduler serving",
        store=store.address,
        admin=f"{config.host}:{config.admin_port}",
        agents=f"{config.host}:{config.agent_port}",
        models=len(state.models),
        servers=len(state.servers),
    )
    loop_task = asyncio.create_task(reconcile_forever(core, stop))
    try:
        await stop.wait()
    finally:
        log.info("scheduler stopping")
        loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop_task
        await agents.stop(grace=1)
        await admin.stop(grace=1)
        if metrics is not None:
            await metrics.cleanup()
        await store.close()


async def _serve_metrics(
    config: SchedulerConfig, registry: CollectorRegistry
) -> web.AppRunner | None:
    if not config.metrics_port:
        return None

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.metrics_port, reuse_address=True).start()
    return runner


def run(config: SchedulerConfig) -> int:
    try:
        run_service(serve(config))
    except Fatal:
        return 1
    except StoreError as exc:
        log.error("cannot start: the store is unavailable", error=str(exc))
        return 1
    return 0
