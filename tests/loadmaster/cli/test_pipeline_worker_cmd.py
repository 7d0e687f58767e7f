"""`loadmaster pipeline-worker` flags: what reaches WorkerConfig, and the usage errors."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import gateway.pipeline.worker_main as worker_main
from loadmaster.cli.output import EXIT_USAGE
from loadmaster.cli.pipeline_worker_cmd import add_pipeline_worker
from loadmaster.kafka.config import KafkaConfig

ENV = (
    "LOADMASTER_SCHEDULER",
    "LOADMASTER_GATEWAY",
    "LOADMASTER_KAFKA_BOOTSTRAP",
    "LOADMASTER_KAFKA_PREFIX",
    "LOADMASTER_KAFKA_NAMESPACE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[worker_main.WorkerConfig]:
    """The configs `run` was called with; nothing is started."""
    configs: list[worker_main.WorkerConfig] = []

    def fake_run(config: worker_main.WorkerConfig) -> int:
        configs.append(config)
        return 0

    monkeypatch.setattr(worker_main, "run", fake_run)
    return configs


def run_command(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="loadmaster")
    add_pipeline_worker(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pipeline-worker", *argv])
    status: int = args.run(args)
    return status


def test_defaults(started: list[worker_main.WorkerConfig]) -> None:
    assert run_command("--kafka-bootstrap", "k:9092") == 0
    [config] = started
    assert config == worker_main.WorkerConfig(
        name="pipeline-worker",
        scheduler="127.0.0.1:9004",
        gateway_url="http://127.0.0.1:9000",
        kafka=KafkaConfig(bootstrap="k:9092"),
        role=worker_main.WorkerRole.ALL,
        metrics_port=0,
        max_in_flight=256,
    )


def test_every_flag(started: list[worker_main.WorkerConfig]) -> None:
    status = run_command(
        "--name", "pw-1", "--scheduler", "s:1", "--gateway", "http://gw:9000",
        "--role", "model", "--metrics-host", "0.0.0.0", "--metrics-port", "9100",
        "--max-in-flight", "32", "--kafka-bootstrap", "a:1,b:2", "--kafka-prefix", "lm",
        "--kafka-namespace", "ns", "--kafka-partitions", "8",
    )  # fmt: skip
    assert status == 0
    [config] = started
    assert (config.name, config.scheduler, config.gateway_url) == ("pw-1", "s:1", "http://gw:9000")
    assert config.role is worker_main.WorkerRole.MODEL
    assert (config.metrics_host, config.metrics_port, config.max_in_flight) == ("0.0.0.0", 9100, 32)
    assert config.kafka.bootstrap == "a:1,b:2" and config.kafka.partitions == 8
    assert (config.kafka.prefix, config.kafka.namespace) == ("lm", "ns")


def test_the_environment_gives_the_defaults(
    started: list[worker_main.WorkerConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOADMASTER_SCHEDULER", "sched:7")
    monkeypatch.setenv("LOADMASTER_GATEWAY", "http://gw:8")
    monkeypatch.setenv("LOADMASTER_KAFKA_BOOTSTRAP", "kafka:9")
    assert run_command() == 0
    [config] = started
    assert (config.scheduler, config.gateway_url, config.kafka.bootstrap) == (
        "sched:7",
        "http://gw:8",
        "kafka:9",
    )


def test_no_bootstrap_is_a_usage_error(
    started: list[worker_main.WorkerConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command() == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.strip() == (
        "error: pipeline-worker needs Kafka: give --kafka-bootstrap HOST:PORT "
        "(or set $LOADMASTER_KAFKA_BOOTSTRAP)"
    )
    assert started == []


def test_a_bad_gateway_url_is_a_usage_error(
    started: list[worker_main.WorkerConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command("--kafka-bootstrap", "k:1", "--gateway", "https://gw") == EXIT_USAGE
    assert "gateway URL 'https://gw': expected http://HOST:PORT" in capsys.readouterr().err
    assert started == []


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--role", "both"], "invalid choice: 'both'"),
        (["--metrics-port", "70000"], "a port is 0 to 65535, got 70000"),
        (["--max-in-flight", "0"], "must be at least 1, got 0"),
    ],
)
def test_bad_flags_are_refused_by_the_parser(
    flags: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_command("--kafka-bootstrap", "k:1", *flags)
    assert exit_info.value.code == 2
    assert problem in capsys.readouterr().err


def test_registering_the_command_does_not_import_the_gateway() -> None:
    code = (
        "import sys, argparse\n"
        "from loadmaster.cli.pipeline_worker_cmd import add_pipeline_worker\n"
        "add_pipeline_worker(argparse.ArgumentParser().add_subparsers())\n"
        "print(sorted(m for m in sys.modules if m == 'gateway' or m.startswith('gateway.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
