"""The pipeline-worker process: its config, how each table reaches the workers, and serve."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc
import pytest

from gateway.pipeline.dataflow_worker import DataflowWorker
from gateway.pipeline.model_worker import ModelWorker
from gateway.pipeline.table import PipelineEntry
from gateway.pipeline.topic_keeper import TopicKeeper
from gateway.pipeline.worker import PipelineWorker
from gateway.pipeline.worker_main import (
    WorkerConfig,
    WorkerRole,
    build_keeper,
    build_workers,
    serve,
)
from gateway.pipeline.worker_metrics import WorkerMetrics
from gateway.pipeline.worker_tables import Keeper, Pipelines, WorkerTables
from loadmaster.generated.scheduler.v1 import admin_pb2 as pb
from loadmaster.generated.scheduler.v1 import admin_pb2_grpc
from loadmaster.kafka.bus import Admin, Bus
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.memory_bus import MemoryBus
from loadmaster.kafka.topics import Topics
from loadmaster.resources.pipeline_spec import PipelineSpec, pipeline_to_proto
from tests.gateway.fakes import WAIT_S, FakeRoutes, Script, closed_port, until
from tests.gateway.pipeline.model_worker_rig import entry

# ---- WorkerConfig ---------------------------------------------------------------------------


def test_a_role_given_as_a_word_becomes_the_enum() -> None:
    config = WorkerConfig(role="dataflow")  # type: ignore[arg-type]
    assert config.role is WorkerRole.DATAFLOW
    assert (config.role.runs_model, config.role.runs_dataflow) == (False, True)
    assert (WorkerRole.MODEL.runs_model, WorkerRole.MODEL.runs_dataflow) == (True, False)
    assert (WorkerRole.ALL.runs_model, WorkerRole.ALL.runs_dataflow) == (True, True)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"role": "both"}, "role: expected one of all, model, dataflow, got 'both'"),
        ({"name": " "}, "name: must not be empty"),
        ({"scheduler": ""}, "scheduler: give the scheduler's HOST:PORT"),
        ({"gateway_url": "gw:9000"}, "gateway URL 'gw:9000': expected http://HOST:PORT"),
        ({"metrics_port": -1}, "metrics_port: a port is 0 to 65535, got -1"),
        ({"max_in_flight": 0}, "max_in_flight: must be at least 1, got 0"),
    ],
)
def test_bad_configs_are_refused(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        WorkerConfig(**fields)  # type: ignore[arg-type]
    assert str(raised.value) == problem


def test_the_keeper_makes_topics_as_the_kafka_flags_say() -> None:
    bus = MemoryBus()
    kafka = KafkaConfig(prefix="p", namespace="ns", partitions=3)
    keeper = build_keeper(WorkerConfig(kafka=kafka), bus.admin("a"))
    assert isinstance(keeper, TopicKeeper)
    asyncio.run(keeper.ensure(A.spec))
    assert set(bus.topics) == set(Topics.of(kafka).of_pipeline("a", ["m"]))
    assert all(len(parts) == 3 for parts in bus.topics.values())


@pytest.mark.parametrize(
    ("role", "kinds"),
    [
        (WorkerRole.ALL, [ModelWorker, DataflowWorker]),
        (WorkerRole.MODEL, [ModelWorker]),
        (WorkerRole.DATAFLOW, [DataflowWorker]),
    ],
)
def test_the_role_picks_the_workers(role: WorkerRole, kinds: list[type]) -> None:
    from prometheus_client import CollectorRegistry

    workers = build_workers(
        WorkerConfig(role=role), MemoryBus(), WorkerMetrics(CollectorRegistry())
    )
    assert [type(w) for w in workers] == kinds


# ---- WorkerTables ---------------------------------------------------------------------------


@dataclass
class Log:
    lines: list[str] = field(default_factory=list)


@dataclass
class FakeKeeper:
    log: Log
    fail_ensure: int = 0
    fail_retire: int = 0
    retired: list[tuple[set[str], set[str]]] = field(default_factory=list)

    async def ensure(self, spec: PipelineSpec) -> None:
        if self.fail_ensure:
            self.fail_ensure -= 1
            raise OSError("broker down")
        self.log.lines.append(f"ensure {spec.name}")

    async def retire(self, before: Pipelines, after: Pipelines) -> None:
        if self.fail_retire:
            self.fail_retire -= 1
            raise OSError("broker down")
        self.retired.append((set(before), set(after)))
        self.log.lines.append("retire")

    def forget(self, before: Pipelines, after: Pipelines) -> None:
        self.log.lines.append(f"forget {sorted(before)} -> {sorted(after)}")


@dataclass
class FakeWorker:
    log: Log
    tables: list[dict[str, PipelineEntry]] = field(default_factory=list)
    runs: int = 0
    closed: bool = False

    def set_pipelines(self, pipelines: Mapping[str, PipelineEntry]) -> None:
        self.tables.append(dict(pipelines))
        self.log.lines.append(f"set {sorted(pipelines)}")

    async def run(self) -> None:
        self.runs += 1
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.closed = True


def rig(retire: bool = True) -> tuple[Log, FakeKeeper, FakeWorker, WorkerTables]:
    log = Log()
    keeper, worker = FakeKeeper(log), FakeWorker(log)
    return log, keeper, worker, WorkerTables(keeper, [worker], retire=retire)


A, B = entry("a", ("s", "m")), entry("b", ("t", "n"))


async def test_topics_are_ensured_before_the_workers_get_the_pipelines() -> None:
    log, keeper, _, tables = rig()
    await tables.apply({"a": A, "b": B})
    assert log.lines == ["ensure a", "ensure b", "set ['a', 'b']"]
    assert keeper.retired == []  # the first table retires nothing
    assert tables.applied == {"a": A, "b": B}


async def test_a_changed_table_is_ensured_and_applied_and_what_left_is_retired() -> None:
    log, keeper, worker, tables = rig()
    await tables.apply({"a": A, "b": B})
    log.lines.clear()
    await tables.apply({"a": A, "b": B})  # a table that only moved a replica
    assert log.lines == [] and len(worker.tables) == 1
    waiting = PipelineEntry(A.spec, A.version, "PipelineWaiting", "waiting for models: m")
    await tables.apply({"a": waiting, "b": B})  # the workers hear of a state change
    assert log.lines == ["ensure a", "ensure b", "set ['a', 'b']", "retire"]
    assert worker.tables[-1]["a"] is waiting
    log.lines.clear()
    changed = entry("a", ("s", "other"), version=2)
    await tables.apply({"a": changed})
    assert log.lines == ["ensure a", "set ['a']", "retire"]
    assert keeper.retired[-1] == ({"a", "b"}, {"a"})


async def test_a_process_without_a_dataflow_worker_forgets_instead_of_retiring() -> None:
    log, keeper, _, tables = rig(retire=False)
    await tables.apply({"a": A, "b": B})
    await tables.apply({"a": A})
    assert keeper.retired == []
    assert log.lines == [
        "forget [] -> ['a', 'b']",
        "ensure a",
        "ensure b",
        "set ['a', 'b']",
        "forget ['a', 'b'] -> ['a']",
        "ensure a",
        "set ['a']",
    ]


async def test_a_failed_ensure_keeps_the_old_table_and_the_latest_is_tried_again() -> None:
    log = Log()
    keeper, worker = FakeKeeper(log, fail_ensure=1), FakeWorker(log)
    sleeps: list[float] = []
    backing_off, resume = asyncio.Event(), asyncio.Event()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        backing_off.set()
        await resume.wait()

    tables = WorkerTables(keeper, [worker], retire=True, sleep=sleep)
    task = asyncio.create_task(tables.run())
    try:
        tables.offer({"a": A})
        await backing_off.wait()
        assert worker.tables == [] and tables.applied is None
        tables.offer({"a": A, "b": B})  # a newer table arrives during the back-off
        resume.set()
        await until(lambda: bool(worker.tables))
    finally:
        task.cancel()
    assert worker.tables == [{"a": A, "b": B}] and sleeps == [0.2]


async def test_a_failed_retire_is_retried_with_what_left() -> None:
    _, keeper, _, tables = rig()
    await tables.apply({"a": A, "b": B})
    keeper.fail_retire = 1
    with pytest.raises(OSError, match="broker down"):
        await tables.apply({"a": A})
    await tables.apply({})
    assert keeper.retired == [({"a", "b"}, set())]


async def test_prepare_runs_once_and_is_retried_until_it_works() -> None:
    keeper, worker = FakeKeeper(Log()), FakeWorker(Log())
    attempts: list[int] = []

    async def prepare() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("no broker yet")

    tables = WorkerTables(keeper, [worker], retire=True, prepare=prepare)
    with pytest.raises(OSError):
        await tables.apply({"a": A})
    assert not tables.prepared and worker.tables == []
    await tables.apply({"a": A})
    await tables.apply({"b": B})
    assert len(attempts) == 2 and tables.prepared


async def test_tables_offered_together_collapse_into_the_latest() -> None:
    _, _, worker, tables = rig()
    tables.offer({"a": A})
    tables.offer({"b": B})
    task = asyncio.create_task(tables.run())
    try:
        await until(lambda: bool(worker.tables))
    finally:
        task.cancel()
    assert worker.tables == [{"b": B}]


# ---- serve ----------------------------------------------------------------------------------


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT_S) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def route_table(generation: int, *entries: PipelineEntry) -> pb.RouteTable:
    return pb.RouteTable(
        generation=generation,
        pipelines=[
            pb.PipelineRoute(spec=pipeline_to_proto(e.spec), version=e.version, state=e.state)
            for e in entries
        ],
    )


async def test_serve_follows_the_tables_serves_health_and_closes_the_workers() -> None:
    fake = FakeRoutes()
    server = grpc.aio.server()
    admin_pb2_grpc.add_SchedulerAdminServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await fake.scripts.put(Script([route_table(1, A), route_table(2, A, B)], hold=True))
    log = Log()
    keeper, workers = FakeKeeper(log), [FakeWorker(log), FakeWorker(log)]
    bus = MemoryBus()
    metrics_port = int(closed_port().rsplit(":", 1)[1])

    def make_workers(
        config: WorkerConfig, given: Bus, metrics: WorkerMetrics
    ) -> list[PipelineWorker]:
        assert given is bus
        return list(workers)

    def make_keeper(config: WorkerConfig, admin: Admin) -> Keeper:
        return keeper

    config = WorkerConfig(
        name="pw-t", scheduler=f"127.0.0.1:{port}", role=WorkerRole.ALL, metrics_port=metrics_port
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve(config, stop, bus=bus, make_workers=make_workers, make_keeper=make_keeper)
    )
    base = f"http://127.0.0.1:{metrics_port}"
    try:
        await until(lambda: all(w.tables and w.tables[-1] == {"a": A, "b": B} for w in workers))
        assert fake.subscribers == ["pw-t"]
        assert all(w.runs == 1 for w in workers)
        status, body = await asyncio.to_thread(get, f"{base}/health")
        assert (status, json.loads(body)) == (200, {"live": True, "following": True})
        status, body = await asyncio.to_thread(get, f"{base}/metrics")
        assert status == 200 and b"loadmaster_pipeline_records" in body
    finally:
        stop.set()
        async with asyncio.timeout(WAIT_S):
            await serving
        await server.stop(grace=None)
    assert all(w.closed for w in workers)
    assert "ensure a" in log.lines and "ensure b" in log.lines


async def test_serve_without_a_scheduler_is_live_but_not_following() -> None:
    metrics_port = int(closed_port().rsplit(":", 1)[1])
    config = WorkerConfig(scheduler=closed_port(), role=WorkerRole.MODEL, metrics_port=metrics_port)
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve(config, stop, bus=MemoryBus(), make_keeper=lambda c, a: FakeKeeper(Log()))
    )
    try:
        status, body = 0, b""
        async with asyncio.timeout(WAIT_S):
            while status != 200:
                try:
                    status, body = await asyncio.to_thread(
                        get, f"http://127.0.0.1:{metrics_port}/health"
                    )
                except urllib.error.URLError:
                    await asyncio.sleep(0.01)
        assert json.loads(body) == {"live": True, "following": False}
    finally:
        stop.set()
        async with asyncio.timeout(WAIT_S):
            await serving
