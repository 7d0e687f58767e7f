"""`loadmaster pipeline ...` end to end over real gRPC to a fake scheduler, real HTTP to a fake
gateway, and the in-memory Kafka bus for `inspect`.

What is checked is what users and scripts read: the lines printed, the JSON keys, the exit
statuses (0 done, 1 failed, 2 bad input) and `error: ...` messages without tracebacks. The
commands run through a parser holding `add_model` and `add_pipeline`, as `main` holds them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from loadmaster.cli import pipeline_probe_cmd
from loadmaster.cli.model_cmd import add_model
from loadmaster.cli.pipeline_cmd import add_pipeline
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.memory_bus import MemoryBus
from loadmaster.kafka.records import Envelope, ErrorRecord, Kind
from loadmaster.kafka.topics import Topics
from tests.loadmaster.cli.harness import Cli, write
from tests.loadmaster.client.fakes import FakeScheduler

CHAIN = """\
apiVersion: loadmaster.io/v1alpha1
kind: Pipeline
metadata: {name: chain}
spec:
  steps:
  - {name: first, model: double}
  - name: second
    model: plus-one
    inputs: [first.outputs.y]
    tensorMap: {first.outputs.y: x}
"""
SOLO = """\
apiVersion: loadmaster.io/v1alpha1
kind: Pipeline
metadata: {name: solo}
spec:
  steps: [{name: only, model: double}]
"""
MODEL = """\
apiVersion: loadmaster.io/v1alpha1
kind: Model
metadata: {name: double}
spec: {storageUri: file:///models/double}
"""


class PipelineCli(Cli):
    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        parser = argparse.ArgumentParser(prog="loadmaster")
        sub = parser.add_subparsers(dest="command", required=True)
        add_model(sub)
        add_pipeline(sub)
        parsed = parser.parse_args([*args, "--scheduler", self.address])
        status: int = parsed.run(parsed)
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return status, out, err


@pytest.fixture
def fake() -> FakeScheduler:
    return FakeScheduler()


@pytest.fixture
def pcli(address: str, capsys: pytest.CaptureFixture[str]) -> PipelineCli:
    return PipelineCli(address, capsys)


def test_load_reports_created_unchanged_updated(pcli: PipelineCli, tmp_path: Path) -> None:
    both = write(tmp_path, "both.yaml", CHAIN + "---\n" + SOLO)
    assert pcli("pipeline", "load", "-f", both) == (
        0,
        "pipeline chain: version 1 (created)\npipeline solo: version 1 (created)\n",
        "",
    )
    assert pcli("pipeline", "load", "-f", both)[1] == (
        "pipeline chain: version 1 (unchanged)\npipeline solo: version 1 (unchanged)\n"
    )
    changed = write(tmp_path, "solo.yaml", SOLO.replace("double", "plus-one"))
    assert pcli.json("pipeline", "load", "-f", changed) == [
        {"name": "solo", "version": 2, "result": "updated"}
    ]


def test_load_refuses_bad_input_before_sending(
    pcli: PipelineCli, fake: FakeScheduler, tmp_path: Path
) -> None:
    typo = write(tmp_path, "typo.yaml", CHAIN.replace("[first.outputs.y]", "[frist.outputs.y]"))
    status, out, err = pcli("pipeline", "load", "-f", typo)
    assert (status, out) == (2, "")
    assert err == (
        f"error: {typo}: document 1 (Pipeline chain): spec.steps[1].inputs[0]: "
        "'frist.outputs.y' names no step 'frist' (did you mean first? steps: first, second, "
        "or pipeline.inputs)\n"
    )
    mixed = write(tmp_path, "mixed.yaml", SOLO + "---\n" + MODEL)
    status, _, err = pcli("pipeline", "load", "-f", mixed)
    assert status == 2
    assert "kind Model is not a pipeline: load models with `loadmaster model load -f FILE`" in err
    empty = write(tmp_path, "empty.yaml", "# nothing\n")
    assert pcli("pipeline", "load", "-f", empty)[::2] == (
        2,
        f"error: no Pipeline documents in {empty}\n",
    )
    assert fake.pipelines == {}


def test_load_wait(pcli: PipelineCli, fake: FakeScheduler, tmp_path: Path) -> None:
    solo = write(tmp_path, "solo.yaml", SOLO)
    status, out, err = pcli("pipeline", "load", "-f", solo, "--wait", "0.2")
    assert (status, out) == (1, "pipeline solo: version 1 (created)\n")
    assert err == (
        "error: pipeline solo was not PipelineReady within 0.2s; last state PipelineWaiting "
        "(waiting for models: double (not loaded))\n"
    )
    pcli("model", "load", "-f", write(tmp_path, "double.yaml", MODEL))
    threading.Timer(0.1, fake.set_state, ("double", "ModelAvailable")).start()
    assert pcli("pipeline", "load", "-f", solo, "--wait", "10") == (
        0,
        "pipeline solo: version 1 (unchanged)\npipeline solo: PipelineReady\n",
        "",
    )
    fake.fail_pipeline("solo", "spec.steps[0]: model 'double' takes inputs (x) but would get 'y'")
    assert pcli("pipeline", "load", "-f", solo, "--wait", "10", "-o", "json") == (
        1,
        '[\n  {\n    "name": "solo",\n    "version": 1,\n    "result": "unchanged"\n  }\n]\n',
        "error: pipeline solo is PipelineFailed: spec.steps[0]: model 'double' takes inputs (x) "
        "but would get 'y'\n",
    )


def test_status_list_unload(pcli: PipelineCli, fake: FakeScheduler, tmp_path: Path) -> None:
    assert pcli("pipeline", "list") == (0, "", "no pipelines\n")
    pcli("pipeline", "load", "-f", write(tmp_path, "both.yaml", CHAIN + "---\n" + SOLO))
    pcli("model", "load", "-f", write(tmp_path, "double.yaml", MODEL))
    fake.set_state("double", "ModelAvailable")
    status, out, _ = pcli("pipeline", "status", "chain")
    assert status == 0
    assert out == (
        "name:    chain\n"
        "version: 1\n"
        "state:   PipelineWaiting\n"
        "output:  second\n"
        "reason:  waiting for models: plus-one (not loaded)\n"
        "\n"
        "STEP    MODEL     INPUTS           READY  MODEL STATE\n"
        "first   double    pipeline.inputs  yes    ModelAvailable\n"
        "second  plus-one  first.outputs.y  no     not loaded\n"
    )
    data = json.loads(pcli("pipeline", "status", "chain", "-o", "json")[1])
    assert sorted(data) == ["name", "reason", "spec", "state", "steps", "version"]
    assert data["spec"]["steps"][1]["tensorMap"] == {"first.outputs.y": "x"}
    assert pcli("pipeline", "list")[1].splitlines() == [
        "NAME   VERSION  STATE            STEPS         REASON",
        "chain  1        PipelineWaiting  first,second  waiting for models: plus-one (not loaded)",
        "solo   1        PipelineReady    only          -",
    ]
    assert [p["name"] for p in pcli.json("pipeline", "list")] == ["chain", "solo"]
    assert pcli("pipeline", "unload", "chain")[:2] == (0, "pipeline chain: unloaded\n")
    assert pcli.json("pipeline", "unload", "solo") == {"name": "solo", "result": "unloaded"}
    assert pcli("pipeline", "unload", "chain")[::2] == (1, "error: pipeline 'chain' not found\n")
    assert pcli("pipeline", "status", "chain")[::2] == (1, "error: pipeline 'chain' not found\n")


class FakeGateway:
    """`POST /v2/pipelines/NAME/infer`: answers `reply` (status, body) and keeps what came."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], object]] = []
        self.reply: tuple[int, object] = (200, {"model_name": "chain", "outputs": []})

    def handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.seen.append((self.path, dict(self.headers.items()), body))
                status, payload = gateway.reply
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-pipeline-request-id", "abc123")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


@pytest.fixture
def gateway() -> Iterator[tuple[FakeGateway, str]]:
    fake = FakeGateway()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield fake, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


REQUEST = '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [4]}]}'


def test_infer(pcli: PipelineCli, gateway: tuple[FakeGateway, str]) -> None:
    fake, url = gateway
    answer = {"model_name": "chain", "outputs": [{"name": "y", "data": [9.0]}]}
    fake.reply = (200, answer)
    status, out, err = pcli("pipeline", "infer", "chain", "-d", REQUEST, "--gateway", url)
    assert (status, json.loads(out), err) == (0, answer, "pipeline request id: abc123\n")
    path, headers, body = fake.seen[-1]
    assert (path, body) == ("/v2/pipelines/chain/infer", json.loads(REQUEST))
    assert "x-request-timeout-ms" not in {k.lower() for k in headers}
    pcli("pipeline", "infer", "chain", "-d", REQUEST, "--gateway", url, "--timeout-ms", "1500")
    assert {k.lower(): v for k, v in fake.seen[-1][1].items()}["x-request-timeout-ms"] == "1500"


def test_infer_errors(
    pcli: PipelineCli, gateway: tuple[FakeGateway, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = gateway
    message = "pipeline 'chain' step 'second' (model 'plus-one'): negative values"
    fake.reply = (400, {"error": message, "pipeline": "chain", "step": "second"})
    assert pcli("pipeline", "infer", "chain", "-d", REQUEST, "--gateway", url) == (
        1,
        "",
        "pipeline request id: abc123\n"
        f"error: pipeline chain: the gateway answered 400: {message}\n",
    )
    assert pcli("pipeline", "infer", "chain", "-d", "[1]", "--gateway", url)[::2] == (
        2,
        "error: -d: an OIP request is a JSON object with `inputs`\n",
    )
    monkeypatch.delenv("LOADMASTER_GATEWAY", raising=False)
    assert pcli("pipeline", "infer", "chain", "-d", REQUEST)[::2] == (
        2,
        "error: pipeline infer needs a gateway: give --gateway URL or set $LOADMASTER_GATEWAY\n",
    )
    status, _, err = pcli("pipeline", "infer", "chain", "-d", REQUEST, "--gateway", "127.0.0.1:1")
    assert status == 1 and err.startswith("error: cannot reach the gateway at 127.0.0.1:1 (")


def _records(bus: MemoryBus, topics: Topics) -> None:
    async def fill() -> None:
        await bus.admin("t").create_topics(
            topics.of_pipeline("chain", ("double", "plus-one")), 2, 1
        )
        producer = bus.producer("t")
        x = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]})
        for topic, step, kind, value in (
            (topics.pipeline_inputs("chain"), "", Kind.DATA, x),
            (topics.model_inputs("double"), "first", Kind.DATA, x),
            (topics.errors, "", Kind.ERROR, ErrorRecord("chain", "first", "double", 500, "boom")
             .to_json()),
        ):  # fmt: skip
            envelope = Envelope("r1", "chain", 0, "g", step=step, kind=kind)
            await producer.send(topic, value, key=b"r1", headers=envelope.headers())

    asyncio.run(fill())


def test_inspect(pcli: PipelineCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pcli("pipeline", "load", "-f", write(tmp_path, "chain.yaml", CHAIN))
    bus = MemoryBus()
    _records(bus, Topics("lm", "t1"))
    configs: list[KafkaConfig] = []

    def memory_bus(config: KafkaConfig) -> MemoryBus:
        configs.append(config)
        return bus

    monkeypatch.setattr(pipeline_probe_cmd, "make_bus", memory_bus)
    kafka = ["--kafka-bootstrap", "k:9092", "--kafka-prefix", "lm", "--kafka-namespace", "t1"]
    seen = pcli.json("pipeline", "inspect", "chain", "--request-id", "r1", *kafka)
    assert configs[0].bootstrap == "k:9092"
    assert [(s["topic"], s["kind"], s["step"], s["summary"]) for s in seen] == [
        ("lm.t1.pipeline.chain.inputs", "data", "", "x FP32 [1]"),
        ("lm.t1.model.double.inputs", "data", "first", "x FP32 [1]"),
        ("lm.t1.errors", "error", "first", "status 500 (model double): boom"),
    ]
    assert sorted(seen[0]) == [
        "kind", "offset", "partition", "step", "summary", "timestampMs", "topic"
    ]  # fmt: skip
    status, out, _ = pcli("pipeline", "inspect", "chain", "--request-id", "r1", *kafka)
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == ["TOPIC", "OFFSET", "TIME", "KIND", "STEP", "SUMMARY"]
    assert lines[1].startswith("pipeline.chain.inputs")
    assert lines[3].startswith("errors") and lines[3].endswith("status 500 (model double): boom")
    assert pcli("pipeline", "inspect", "chain", "--request-id", "zz", *kafka)[::2] == (
        1,
        "error: no records of request zz in the topics of pipeline chain\n",
    )
    monkeypatch.delenv("LOADMASTER_KAFKA_BOOTSTRAP", raising=False)
    assert pcli("pipeline", "inspect", "chain", "--request-id", "r1")[::2] == (
        2,
        "error: pipeline inspect needs Kafka: give --kafka-bootstrap HOST:PORT or set "
        "$LOADMASTER_KAFKA_BOOTSTRAP\n",
    )
    assert pcli("pipeline", "inspect", "nope", "--request-id", "r1", *kafka)[::2] == (
        1,
        "error: pipeline 'nope' not found\n",
    )
