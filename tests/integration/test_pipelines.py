"""Pipelines end to end on real processes: the broker (Tansu, or the Apache Kafka named by
$LOADMASTER_KAFKA_BOOTSTRAP), the scheduler, an agent serving small Python models, a gateway
with Kafka, and pipeline workers (docs/pipelines.md).

Each test loads its own pipeline through the CLI and sends requests through the gateway's
REST door; the answers are arithmetic that can be checked by hand (see pipeline_models.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.cluster import cli, wait_until
from tests.integration.pipeline_cluster import PipelineCluster, Reply
from tests.integration.pipeline_models import write_models

pytestmark = pytest.mark.integration

MODELS = ("double", "plus-one", "add", "choose", "picky", "slow")


def _doc(name: str, body: str) -> str:
    head = f"apiVersion: loadmaster.io/v1alpha1\nkind: Pipeline\nmetadata: {{name: {name}}}\n"
    return head + "spec:\n" + body


CHAIN = _doc(
    "chain",
    """  steps:
  - name: first
    model: double
  - name: second
    model: plus-one
    inputs: [first.outputs.y]
    tensorMap: {first.outputs.y: x}
""",
)

FAN_INNER = _doc(
    "fan-inner",
    """  steps:
  - {name: twice, model: double}
  - {name: more, model: plus-one}
  - name: total
    model: add
    inputs: [twice.outputs.y, more.outputs.y]
    tensorMap: {twice.outputs.y: left, more.outputs.y: right}
  output:
    steps: [total]
""",
)

FAN_ANY = _doc(
    "fan-any",
    """  steps:
  - {name: fast, model: double}
  - name: lazy
    model: slow
  - name: first-back
    model: plus-one
    inputs: [fast.outputs.y, lazy.outputs.y]
    tensorMap: {fast.outputs.y: x, lazy.outputs.y: x}
    inputsJoinType: any
""",
)

TRIGGERED = _doc(
    "triggered",
    """  steps:
  - {name: choose, model: choose}
  - name: on-pos
    model: double
    inputs: [choose.outputs.pos]
    triggers: [choose.outputs.pos]
    tensorMap: {choose.outputs.pos: x}
  - name: on-neg
    model: plus-one
    inputs: [choose.outputs.neg]
    triggers: [choose.outputs.neg]
    tensorMap: {choose.outputs.neg: x}
  output:
    steps: [on-pos, on-neg]
    stepsJoin: any
""",
)

FAILING = _doc(
    "failing",
    """  steps:
  - {name: first, model: double}
  - name: check
    model: picky
    inputs: [first.outputs.y]
    tensorMap: {first.outputs.y: x}
  - name: last
    model: plus-one
    inputs: [check.outputs.y]
    tensorMap: {check.outputs.y: x}
""",
)

SLOW_CHAIN = _doc(
    "slow-chain",
    """  steps:
  - {name: wait, model: slow}
  - name: after
    model: plus-one
    inputs: [wait.outputs.y]
    tensorMap: {wait.outputs.y: x}
""",
)

LATE = _doc(
    "late",
    """  steps:
  - {name: only, model: late-model}
""",
)


@pytest.fixture(scope="module")
def cluster(
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PipelineCluster]:
    work = tmp_path_factory.mktemp("pipelines")
    models = write_models(work / "models")
    cluster = PipelineCluster(work, models, kafka_bootstrap, workers=2)
    try:
        for name in MODELS:
            cluster.load_model(name)
        for name in MODELS:
            cluster.wait_model(name)
        yield cluster
    finally:
        cluster.close()


def _loaded(cluster: PipelineCluster, name: str, document: str) -> None:
    cluster.load_pipeline(name, document)
    cluster.wait_pipeline(name)


def test_a_two_step_chain_answers_and_status_names_every_step(cluster: PipelineCluster) -> None:
    _loaded(cluster, "chain", CHAIN)
    reply = cluster.infer("chain", {"x": [1.0, 2.5]}, request_id="my-id-1")
    assert reply.status == 200, reply.body
    assert reply.output("y") == [3.0, 6.0]  # (x * 2) + 1
    assert reply.body["model_name"] == "chain"
    assert reply.body.get("id") == "my-id-1"
    status = cluster.pipeline_status("chain")
    assert [(s["name"], s["model"], s["ready"]) for s in status["steps"]] == [
        ("first", "double", True),
        ("second", "plus-one", True),
    ]
    listing = json.loads(cli("pipeline", "list", "-o", "json", scheduler=cluster.admin).stdout)
    assert "chain" in {p["name"] for p in listing}
    # the CLI's own infer goes through the same gateway door
    result = cli(
        "pipeline", "infer", "chain", "--gateway", cluster.gateway_url, "-d",
        json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [4]}]}),
        scheduler=cluster.admin,
    )  # fmt: skip
    answer = json.loads(result.stdout)
    assert answer["outputs"][0]["data"] == [9.0]


def test_inspect_shows_what_passed_through_each_topic(cluster: PipelineCluster) -> None:
    _loaded(cluster, "chain", CHAIN)
    reply = cluster.infer("chain", {"x": [5.0]})
    assert reply.status == 200, reply.body
    request_id = reply.headers["x-pipeline-request-id"]
    result = cli(
        "pipeline", "inspect", "chain", "--request-id", request_id, "-o", "json", *cluster.kafka,
        scheduler=cluster.admin,
    )  # fmt: skip
    seen = json.loads(result.stdout)
    topics = [entry["topic"] for entry in seen]
    base = f"loadmaster.{cluster.namespace}"
    assert topics[0] == f"{base}.pipeline.chain.inputs"
    assert f"{base}.model.double.inputs" in topics
    assert f"{base}.model.plus-one.outputs" in topics
    assert topics[-1] == f"{base}.pipeline.chain.outputs"


def test_fan_out_and_fan_in_with_an_inner_join_and_a_tensor_map(cluster: PipelineCluster) -> None:
    _loaded(cluster, "fan-inner", FAN_INNER)
    reply = cluster.infer("fan-inner", {"x": [1.0, 3.0]})
    assert reply.status == 200, reply.body
    assert reply.output("sum") == [4.0, 10.0]  # 2x + (x + 1)


def test_an_any_join_goes_on_with_the_first_arrival(cluster: PipelineCluster) -> None:
    _loaded(cluster, "fan-any", FAN_ANY)
    # A first request whose two branches agree (`lazy` sleeps 0 s; 0 * 2 + 1 == 0 + 1): it
    # passes once the workers' consumer groups have settled on the new topics (a rebalance
    # on Tansu takes seconds, which would otherwise race the 1.5 s below).
    settle = cluster.infer("fan-any", {"x": [0.0]})
    assert settle.status == 200, settle.body
    assert settle.output("y") == [1.0]
    reply = cluster.infer("fan-any", {"x": [1.5]})  # `lazy` sleeps 1.5 s; `fast` answers first
    assert reply.status == 200, reply.body
    assert reply.output("y") == [4.0]  # (1.5 * 2) + 1, from `fast`


@pytest.mark.parametrize(("x", "expected"), [(3.0, 6.0), (-3.0, -2.0)])
def test_a_trigger_skips_the_branch_it_does_not_fire(
    cluster: PipelineCluster, x: float, expected: float
) -> None:
    _loaded(cluster, "triggered", TRIGGERED)
    reply = cluster.infer("triggered", {"x": [x]})
    assert reply.status == 200, reply.body
    assert reply.output("y") == [expected]  # positive: doubled; negative: plus one


def test_an_error_in_a_middle_step_names_the_step_and_the_model(cluster: PipelineCluster) -> None:
    _loaded(cluster, "failing", FAILING)
    good = cluster.infer("failing", {"x": [1.0]})
    assert good.status == 200, good.body
    assert good.output("y") == [3.0]
    bad = cluster.infer("failing", {"x": [-1.0]})
    assert 400 <= bad.status < 600 and bad.status != 504, bad.body
    assert bad.body["step"] == "check"
    assert bad.body["model"] == "picky"
    assert "negative values are not allowed" in bad.body["error"]
    assert "'check'" in bad.body["error"]


def test_a_request_past_its_deadline_gets_504_and_the_next_one_works(
    cluster: PipelineCluster,
) -> None:
    _loaded(cluster, "slow-chain", SLOW_CHAIN)
    late = cluster.infer("slow-chain", {"x": [3.0]}, timeout_ms=500)
    assert late.status == 504, late.body
    assert "slow-chain" in late.body["error"]
    quick = cluster.infer("slow-chain", {"x": [0.0]})
    assert quick.status == 200, quick.body
    assert quick.output("y") == [1.0]


def test_a_pipeline_loaded_before_its_model_answers_once_the_model_is_ready(
    cluster: PipelineCluster,
) -> None:
    cluster.load_pipeline("late", LATE)
    status = cluster.pipeline_status("late")
    assert status["state"] == "PipelineWaiting"
    assert "late-model" in status["reason"]
    early = cluster.infer("late", {"x": [1.0]})
    assert early.status == 503, early.body
    assert "late-model" in early.body["error"]
    (cluster.models_root / "late-model").symlink_to(cluster.models_root / "double")
    cluster.load_model("late-model")
    cluster.wait_pipeline("late")
    reply = cluster.infer("late", {"x": [2.0]})
    assert reply.status == 200, reply.body
    assert reply.output("y") == [4.0]


def test_a_worker_killed_under_load_loses_no_request(cluster: PipelineCluster) -> None:
    _loaded(cluster, "chain", CHAIN)
    assert len(cluster.workers) >= 2
    victim = cluster.workers[0]
    total = 300

    def send(i: int) -> tuple[int, Reply]:
        return i, cluster.infer("chain", {"x": [float(i)]}, timeout_ms=40_000)

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(send, i) for i in range(total)]
        wait_until(lambda: sum(f.done() for f in futures) >= total // 5, 60, "some answers")
        victim.kill()
        replies = [f.result(timeout=120) for f in futures]
    ok = [(i, r) for i, r in replies if r.status == 200]
    deadline = [(i, r) for i, r in replies if r.status == 504]
    others = [(i, r.status, r.body) for i, r in replies if r.status not in (200, 504)]
    assert others == []
    assert len(ok) + len(deadline) == total
    for i, reply in ok:  # each caller got the answer to its own request
        assert reply.output("y") == [2.0 * i + 1.0], (i, reply.body)
    assert len(ok) > 0
    cluster.workers.remove(victim)
    cluster.add_worker("worker-replacement")


def test_unload_removes_the_pipeline(cluster: PipelineCluster) -> None:
    _loaded(cluster, "chain", CHAIN)
    cli("pipeline", "unload", "chain", scheduler=cluster.admin)
    wait_until(
        lambda: cluster.infer("chain", {"x": [1.0]}).status == 404, 30, "the gateway to forget it"
    )
    missing = cli("pipeline", "status", "chain", scheduler=cluster.admin, check=False)
    assert missing.returncode != 0
    assert "chain" in missing.stderr
