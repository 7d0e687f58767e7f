"""The plan: each part's command line, wired to the others, and the endpoints `up` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadmaster.local_cluster.options import KafkaMode, UpOptions
from loadmaster.local_cluster.parts import PartKind, PartPlan, start_phases
from loadmaster.local_cluster.plan import build_plan
from loadmaster.local_cluster.ports import ClusterPorts

PORTS = ClusterPorts(
    admin=19004,
    agent_stream=19005,
    metrics=19006,
    gateway_http=19000,
    gateway_grpc=19500,
    etcd_client=12379,
    etcd_peer=12380,
    kafka=19092,
)


def _options(**changes: object) -> UpOptions:
    base: dict[str, object] = {
        "data_dir": Path("/d"),
        "cwd": Path("/w"),
        "agents": 2,
        "agent_memory_bytes": 1024**3,
        "ports": PORTS,
    }
    return UpOptions(**(base | changes))  # type: ignore[arg-type]


def _plan(**changes: object) -> dict[str, PartPlan]:
    plan = build_plan(
        _options(**changes), [41, 42, 43, 44, 45], Path("/bin/etcd"), Path("/bin/tansu"), "/py"
    )
    return {p.name: p for p in plan.parts}


def _flag(part: PartPlan, flag: str) -> str:
    return part.argv[part.argv.index(flag) + 1]


def test_every_part_is_wired_to_the_others() -> None:
    parts = _plan()
    assert list(parts) == [
        "etcd", "kafka", "scheduler", "agent-1", "agent-2", "gateway", "pipeline-worker-1",
    ]  # fmt: skip
    scheduler = parts["scheduler"]
    assert scheduler.argv[:8] == (
        "/py", "-m", "loadmaster.cli.main", "--log-format", "json", "--log-level", "info",
        "scheduler",
    )  # fmt: skip
    assert _flag(scheduler, "--store") == "etcd://127.0.0.1:12379"
    assert _flag(scheduler, "--admin-port") == "19004"
    for name, (http, grpc) in (("agent-1", (41, 42)), ("agent-2", (43, 44))):
        agent = parts[name]
        assert _flag(agent, "--name") == name
        assert _flag(agent, "--scheduler") == "127.0.0.1:19005"
        assert (_flag(agent, "--http-port"), _flag(agent, "--grpc-port")) == (str(http), str(grpc))
        assert _flag(agent, "--cache-dir") == f"/d/agents/{name}/cache"
        assert _flag(agent, "--memory") == str(1024**3)
        assert _flag(agent, "--capabilities") == "torch,python,huggingface"
        assert agent.ports == {"http": http, "grpc": grpc}
    gateway = parts["gateway"]
    assert _flag(gateway, "--scheduler") == "127.0.0.1:19004"
    assert (_flag(gateway, "--http-port"), _flag(gateway, "--grpc-port")) == ("19000", "19500")
    assert _flag(gateway, "--kafka-bootstrap") == "127.0.0.1:19092"
    worker = parts["pipeline-worker-1"]
    assert worker.kind is PartKind.PIPELINE_WORKER
    assert worker.argv[7] == "pipeline-worker"
    assert _flag(worker, "--scheduler") == "127.0.0.1:19004"
    assert _flag(worker, "--gateway") == "http://127.0.0.1:19000"
    assert _flag(worker, "--kafka-bootstrap") == "127.0.0.1:19092"
    assert worker.ports == {"metrics": 45}


def test_pipeline_workers_share_the_work_and_need_kafka() -> None:
    two = build_plan(_options(pipeline_workers=2), [1, 2, 3, 4, 5, 6], Path("/e"), Path("/t"))
    workers = [p for p in two.parts if p.kind is PartKind.PIPELINE_WORKER]
    assert [(w.name, w.ports["metrics"]) for w in workers] == [
        ("pipeline-worker-1", 5), ("pipeline-worker-2", 6),
    ]  # fmt: skip
    none = build_plan(_options(kafka=KafkaMode.NONE), [1, 2, 3, 4], Path("/e"), None)
    assert PartKind.PIPELINE_WORKER not in {p.kind for p in none.parts}
    gateway = next(p for p in none.parts if p.kind is PartKind.GATEWAY)
    assert "--kafka-bootstrap" not in gateway.argv


def test_etcd_keeps_its_data_in_the_data_dir_and_the_broker_is_memory_only() -> None:
    parts = _plan()
    etcd = parts["etcd"].argv
    assert etcd[0] == "/bin/etcd"
    assert "--data-dir=/d/etcd" in etcd
    assert "--listen-client-urls=http://127.0.0.1:12379" in etcd
    assert "--listen-peer-urls=http://127.0.0.1:12380" in etcd
    assert parts["kafka"].argv == (
        "/bin/tansu", "broker", "--listener-url", "tcp://127.0.0.1:19092",
        "--advertised-listener-url", "tcp://127.0.0.1:19092", "--storage-engine", "memory://tansu/",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kafka", "bootstrap", "shown"),
    [(KafkaMode.NONE, "", "none"), (KafkaMode.EXTERNAL, "broker:9092", "broker:9092")],
)
def test_no_broker_part_without_a_local_broker(
    kafka: KafkaMode, bootstrap: str, shown: str
) -> None:
    plan = build_plan(
        _options(kafka=kafka, kafka_bootstrap=bootstrap, pipeline_workers=0),
        [1, 2, 3, 4],
        Path("/e"),
        None,
    )
    assert PartKind.BROKER not in {p.kind for p in plan.parts}
    assert plan.endpoints["kafka"] == shown


def test_endpoints() -> None:
    plan = build_plan(_options(), [1, 2, 3, 4, 5], Path("/e"), Path("/t"))
    assert plan.endpoints == {
        "gatewayRest": "http://127.0.0.1:19000",
        "gatewayGrpc": "127.0.0.1:19500",
        "admin": "127.0.0.1:19004",
        "kafka": "127.0.0.1:19092",
        "etcd": "http://127.0.0.1:12379",
        "metrics": "http://127.0.0.1:19006/metrics",
        "logs": "/d/logs",
    }
    off = build_plan(
        _options(ports=ClusterPorts(metrics=0)), [1, 2, 3, 4, 5], Path("/e"), Path("/t")
    )
    assert off.endpoints["metrics"] == "off"


def test_start_phases_put_each_part_after_what_it_needs() -> None:
    plan = build_plan(_options(), [1, 2, 3, 4, 5], Path("/e"), Path("/t"))
    phases = [[p.name for p in phase] for phase in start_phases(plan.parts)]
    assert phases == [
        ["etcd", "kafka"], ["scheduler"], ["agent-1", "agent-2", "gateway"], ["pipeline-worker-1"],
    ]  # fmt: skip


def test_the_plan_needs_two_ports_per_agent_and_one_per_worker() -> None:
    with pytest.raises(ValueError, match="need 5 free ports, got 2"):
        build_plan(_options(), [1, 2], Path("/e"), Path("/t"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"agents": 0}, "at least 1 agent"),
        ({"kafka": KafkaMode.EXTERNAL}, "bootstrap"),
        ({"kafka_bootstrap": "x:1"}, "bootstrap"),
        ({"data_dir": Path("rel")}, "absolute"),
    ],
)
def test_options_refuse_nonsense(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _options(**changes)
