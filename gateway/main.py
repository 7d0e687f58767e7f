"""The gateway process: follow the scheduler's routes, serve OIP REST and gRPC, stop cleanly.

Both doors start listening before the first table arrives: liveness answers at once and
readiness says not ready until the scheduler has been heard from, which is what an orchestrator
needs to hold traffic back without restarting a gateway whose scheduler is slow to come up.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from gateway.balancer import Balancer
from gateway.config import GatewayConfig
from gateway.grpc_channels import Channels
from gateway.grpc_front import GrpcFront, build_server
from gateway.metrics import GatewayMetrics
from gateway.mirror import Mirrorer
from gateway.pipeline.front import PipelineFront
from gateway.pipeline.front_metrics import PipelineMetrics
from gateway.pipeline.grpc_pipeline import GrpcPipelines
from gateway.pipeline.rest_routes import PipelineRoutes
from gateway.proxy import Proxy
from gateway.rest import GatewayRest
from gateway.route_follower import RouteFollower
from gateway.routes import RouteTable
from gateway.targets import Targets
from gateway.traffic import TrafficCounts, TrafficReporter, scheduler_sender
from gateway.upstream import Upstream
from loadmaster import logs
from loadmaster.kafka.bus import Bus
from loadmaster.kafka.config import KafkaConfig
from loadmaster.process import forget_signals, run_service, stop_on_signals

log = logs.get_logger("gateway")


def kafka_bus(config: KafkaConfig) -> Bus:
    """The real bus, imported only when Kafka is configured (the client library is heavy)."""
    from loadmaster.kafka.aiokafka_bus import AiokafkaBus

    return AiokafkaBus(config)


def pipeline_front(config: GatewayConfig, registry: CollectorRegistry) -> PipelineFront:
    """The pipeline front; without Kafka it answers every pipeline request 503. The instance
    id is unique per process: answers are routed back to the gateway that waits for them."""
    bus = kafka_bus(config.kafka) if config.kafka is not None else None
    return PipelineFront(
        bus,
        config.kafka,
        PipelineMetrics(registry),
        instance=f"{config.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        default_timeout_s=config.pipeline_timeout_s,
    )


async def serve(config: GatewayConfig, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT arrives)."""
    stop = stop_on_signals(stop or asyncio.Event())

    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    counts = TrafficCounts()
    targets = Targets(config.scheduler, counts)
    proxy = Proxy(Balancer(), metrics)
    upstream = Upstream(config.connections_per_endpoint)
    channels = Channels(close_grace_s=config.upstream_timeout_s)
    mirrorer = Mirrorer(metrics)
    pipelines = pipeline_front(config, registry)
    rest = GatewayRest(
        config,
        targets,
        proxy,
        upstream,
        metrics,
        lambda: generate_latest(registry),
        mirrorer,
        PipelineRoutes(pipelines, config.max_body_bytes).mount,
    )
    send_report, close_reports = scheduler_sender(config.scheduler)
    reporter = TrafficReporter(counts, config.name, send_report, config.traffic_report_interval_s)
    grpc_server, grpc_port = build_server(
        GrpcFront(config, targets, proxy, channels, metrics, mirrorer, GrpcPipelines(pipelines)),
        config.host,
        config.grpc_port,
        config.max_body_bytes,
    )

    def on_table(table: RouteTable) -> None:
        targets.set_table(table)
        pipelines.set_pipelines(table.pipelines)
        channels.retain({e.grpc for r in table.routes.values() for e in r.endpoints})

    follower = RouteFollower(config.scheduler, config.name, on_table)
    # handler_cancellation: a client that hangs up cancels its handler, and with it the
    # request to the agent, instead of leaving the replica busy on an answer nobody reads.
    runner = web.AppRunner(rest.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.http_port, backlog=2048, reuse_address=True)
        await site.start()
        await grpc_server.start()
        await pipelines.start()
        follower.start()
        reporter.start()
        log.info(
            "gateway serving",
            name=config.name,
            http=f"{config.host}:{config.http_port}",
            grpc=f"{config.host}:{grpc_port}",
            scheduler=config.scheduler,
            kafka=config.kafka.bootstrap if config.kafka is not None else None,
        )
        await stop.wait()
    finally:
        log.info("gateway stopping", name=config.name)
        await follower.close()
        await reporter.close()
        await close_reports()
        await mirrorer.close()
        await grpc_server.stop(grace=1.0)
        await runner.cleanup()
        await pipelines.close()
        await upstream.close()
        await channels.close()
        forget_signals()


def run(config: GatewayConfig) -> int:
    run_service(serve(config))
    return 0
