"""The `loadmaster pipeline-worker` process: follow the route table, run the pipeline workers.

A process runs the model worker, the dataflow worker, or both (`role`), so small setups run
one process and large ones scale each kind on its own. It follows the scheduler's route table
like a gateway does and applies each table through `WorkerTables` (topics first). Broker or
scheduler trouble never ends it: the workers and the table task retry, and the route follower
keeps the last table. On SIGTERM the workers finish what is in flight (briefly), commit and
leave their groups, so their partitions move to the other members at once.

`/health` and `/metrics` are served on a small HTTP port of their own when one is given:
a worker has no other door. `/health` says `following` once a table from the scheduler has
reached the workers (its topics exist), which is when a worker is of use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.pipeline.model_call import GatewayAddress
from gateway.pipeline.model_worker import ModelWorker
from gateway.pipeline.worker import PipelineWorker
from gateway.pipeline.worker_metrics import WorkerMetrics
from gateway.pipeline.worker_tables import Keeper, WorkerTables
from gateway.route_follower import RouteFollower
from gateway.routes import RouteTable
from loadmaster import logs
from loadmaster.kafka.bus import Admin, Bus, BusError
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.topics import Topics
from loadmaster.process import forget_signals, run_service, stop_on_signals

log = logs.get_logger("gateway.pipeline.worker")

RESTART_FIRST_S = 0.2
RESTART_MAX_S = 5.0


class WorkerRole(StrEnum):
    ALL = "all"
    MODEL = "model"
    DATAFLOW = "dataflow"

    @property
    def runs_model(self) -> bool:
        return self in (WorkerRole.ALL, WorkerRole.MODEL)

    @property
    def runs_dataflow(self) -> bool:
        return self in (WorkerRole.ALL, WorkerRole.DATAFLOW)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """`metrics_port` 0 serves no /metrics and /health; `gateway_url` is where the model
    worker sends step requests (http://HOST:PORT, the gateway's REST port)."""

    name: str = "pipeline-worker"
    scheduler: str = "127.0.0.1:9004"
    gateway_url: str = "http://127.0.0.1:9000"
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    role: WorkerRole = WorkerRole.ALL
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    max_in_flight: int = 256

    def __post_init__(self) -> None:
        """Raises ValueError naming the field for a value no process could run with."""
        try:
            object.__setattr__(self, "role", WorkerRole(self.role))
        except ValueError:
            words = ", ".join(r.value for r in WorkerRole)
            raise ValueError(f"role: expected one of {words}, got {self.role!r}") from None
        if not self.name.strip():
            raise ValueError("name: must not be empty")
        if not self.scheduler.strip():
            raise ValueError("scheduler: give the scheduler's HOST:PORT")
        GatewayAddress.parse(self.gateway_url)
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port: a port is 0 to 65535, got {self.metrics_port}")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight: must be at least 1, got {self.max_in_flight}")


WorkerFactory = Callable[[WorkerConfig, Bus, WorkerMetrics], list[PipelineWorker]]
KeeperFactory = Callable[[WorkerConfig, Admin], Keeper]


def build_workers(config: WorkerConfig, bus: Bus, metrics: WorkerMetrics) -> list[PipelineWorker]:
    """The workers `config.role` asks for, on `bus`."""
    workers: list[PipelineWorker] = []
    if config.role.runs_model:
        workers.append(
            ModelWorker(
                bus,
                config.kafka,
                config.gateway_url,
                metrics,
                client_id=f"{config.name}-model",
                max_in_flight=config.max_in_flight,
            )
        )
    if config.role.runs_dataflow:
        from gateway.pipeline.dataflow_worker import DataflowWorker

        workers.append(
            DataflowWorker(bus, config.kafka, metrics, client_id=f"{config.name}-dataflow")
        )
    return workers


def build_keeper(config: WorkerConfig, admin: Admin) -> Keeper:
    from gateway.pipeline.topic_keeper import TopicKeeper

    kafka = config.kafka
    return TopicKeeper(admin, Topics.of(kafka), kafka.partitions, kafka.replication_factor)


def real_bus(config: WorkerConfig) -> Bus:
    from loadmaster.kafka.aiokafka_bus import AiokafkaBus

    return AiokafkaBus(config.kafka)


async def serve(
    config: WorkerConfig,
    stop: asyncio.Event | None = None,
    *,
    bus: Bus | None = None,
    make_workers: WorkerFactory = build_workers,
    make_keeper: KeeperFactory = build_keeper,
) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT arrives). `bus` defaults to the real one."""
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    bus = bus if bus is not None else real_bus(config)
    admin = bus.admin(f"{config.name}-admin")
    workers = make_workers(config, bus, metrics)
    tables = WorkerTables(
        make_keeper(config, admin),
        workers,
        retire=config.role.runs_dataflow,
        prepare=admin.start,
    )

    def on_table(table: RouteTable) -> None:
        tables.offer(table.pipelines)

    follower = RouteFollower(config.scheduler, config.name, on_table)
    runner: web.AppRunner | None = None
    tasks: list[asyncio.Task[None]] = []
    stop = stop_on_signals(stop or asyncio.Event())
    try:
        if config.metrics_port:
            runner = await _serve_http(config, registry, lambda: _following(follower, tables))
        tasks.append(asyncio.create_task(tables.run(), name="pipeline-tables"))
        for worker in workers:
            tasks.append(asyncio.create_task(_keep_running(worker), name=type(worker).__name__))
        follower.start()
        log.info(
            "pipeline worker serving",
            name=config.name,
            role=config.role.value,
            scheduler=config.scheduler,
            gateway=config.gateway_url,
            kafka=config.kafka.settings(),
            metrics=f"{config.metrics_host}:{config.metrics_port}" if runner else None,
        )
        await stop.wait()
    finally:
        log.info("pipeline worker stopping", name=config.name)
        await follower.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for worker in workers:
            try:
                await worker.close()
            except Exception:
                log.exception("a worker did not close cleanly", worker=type(worker).__name__)
        if tables.prepared:
            with contextlib.suppress(BusError):
                await admin.stop()
        if runner is not None:
            await runner.cleanup()
        forget_signals()


async def _keep_running(worker: PipelineWorker) -> None:
    """Run `worker`, starting it again after a back-off if it ever fails."""
    delay = RESTART_FIRST_S
    while True:
        try:
            await worker.run()
            problem = "it returned"
        except Exception as exc:
            log.exception("pipeline worker failed", worker=type(worker).__name__)
            problem = f"{type(exc).__name__}: {exc}"
        log.warning("restarting a pipeline worker", worker=type(worker).__name__, problem=problem)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RESTART_MAX_S)


def _following(follower: RouteFollower, tables: WorkerTables) -> bool:
    """Connected to the scheduler, and its table reached the workers (topics exist)."""
    return follower.connected and tables.applied is not None


async def _serve_http(
    config: WorkerConfig, registry: CollectorRegistry, following: Callable[[], bool]
) -> web.AppRunner:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"live": True, "following": following()})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.metrics_host, config.metrics_port, reuse_address=True)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def run(config: WorkerConfig) -> int:
    """Exit status 0 after a clean stop, 1 when the metrics port cannot be bound."""
    try:
        run_service(serve(config))
    except OSError as exc:
        log.error("pipeline worker cannot start", problem=f"{type(exc).__name__}: {exc}")
        return 1
    return 0
