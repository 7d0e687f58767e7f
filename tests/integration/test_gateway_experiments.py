"""Experiments routed by the gateway, end to end on real processes (docs/experiments.md).

The unit tests check the split, the route header and the mirror with fakes and a seeded
random; these check the path a user relies on: `loadmaster experiment start` -> scheduler ->
route table -> the gateway's split -> the agent's answer -> the traffic report ->
`loadmaster experiment status`. A scheduler (memory store), one agent serving `iris`,
`iris-v2` and `iris-shadow` (the iris artifact under three names, so the response's
`model_name` says which one answered) and a gateway reporting traffic every 0.2 s.

Each test starts its own experiment and stops it afterwards (a fresh uid, so counts start at
zero), waiting until the gateway has dropped it before the next one starts.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.clients.report import REPORT_PREFIX
from tests.integration.cluster import (
    IRIS_REQUEST,
    Cluster,
    GatewayProcess,
    cli,
    cli_json,
    start_gateway,
    wait_until,
)
from tests.integration.harness import ROOT, http_json
from tests.integration.test_gateway_grpc import grpc_address

pytestmark = pytest.mark.integration

MODELS = ("iris", "iris-v2", "iris-shadow")
ROUTE_HEADER = "x-loadmaster-route"
N = 400  # requests per statistical check
SIGMAS = 4  # a correct split falls outside 4 standard deviations about once in 16,000 runs

AB = """\
apiVersion: loadmaster.io/v1alpha1
kind: Experiment
metadata: {name: iris-ab}
spec:
  default: iris
  candidates:
  - {name: iris, weight: 70}
  - {name: iris-v2, weight: 30}
"""

SHADOWED = """\
apiVersion: loadmaster.io/v1alpha1
kind: Experiment
metadata: {name: iris-shadowed}
spec:
  candidates:
  - {name: iris, weight: 50}
  - {name: iris-v2, weight: 50}
  mirror: {name: iris-shadow, percent: 50}
"""


@pytest.fixture(scope="module")
def cluster(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("gateway-experiments"), models_dir, etcd=False)
    try:
        cluster.add_agent("a", "4Gi")
        for name in MODELS:
            cluster.load(name, "256Mi", 1)
        for name in MODELS:
            cluster.settled(name, 1, "Full")
        yield cluster
    finally:
        for name in MODELS:  # a lone agent drains only once nothing needs it any more
            cli("model", "unload", name, scheduler=cluster.scheduler.admin, check=False)
        cluster.close()


@pytest.fixture(scope="module")
def gateway(cluster: Cluster) -> Iterator[GatewayProcess]:
    process = start_gateway(
        cluster.work, cluster.scheduler.admin, "--traffic-report-interval", "0.2"
    )
    yield process
    process.stop()


@dataclass(frozen=True)
class Answer:
    """One REST inference as the client saw it."""

    status: int
    route: str | None  # the x-loadmaster-route header
    body: dict[str, Any]

    @property
    def model(self) -> str | None:
        name = self.body.get("model_name")
        return name if isinstance(name, str) else None


def infer(gateway: GatewayProcess, name: str, route: str | None = None) -> Answer:
    headers = {ROUTE_HEADER: route} if route else {}
    request = urllib.request.Request(
        gateway.url(f"/v2/models/{name}/infer"), data=IRIS_REQUEST, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.headers.get(ROUTE_HEADER), json.load(response))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers.get(ROUTE_HEADER), json.loads(exc.read() or b"{}"))


@dataclass
class Experiments:
    """Starts experiments through the CLI and stops them again, waiting for the gateway."""

    cluster: Cluster
    gateway: GatewayProcess
    started: list[str] = field(default_factory=list)

    def start(self, name: str, document: str) -> dict[str, Any]:
        """Start `name`, wait until it is ExperimentReady and the gateway routes it."""
        admin = self.cluster.scheduler.admin
        path = self.cluster.work / f"{name}.yaml"
        path.write_text(document)
        cli("experiment", "start", "-f", str(path), scheduler=admin)
        self.started.append(name)
        ready: dict[str, Any] = cli_json(
            "experiment", "status", name, "--wait", "--timeout", "30", scheduler=admin
        )
        assert ready["state"] == "ExperimentReady", ready
        ready_url = self.gateway.url(f"/v2/models/{name}.experiment/ready")  # counts nothing
        wait_until(
            lambda: http_json("GET", ready_url)[0] == 200,
            15,
            f"the gateway to route {name}",
            self.gateway.log,
        )
        return ready

    def status(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = cli_json(
            "experiment", "status", name, scheduler=self.cluster.scheduler.admin
        )
        return result

    def counted(self, name: str, total: int) -> dict[str, Any]:
        """The status once the gateway's reports add up to `total` requests."""

        def probe() -> dict[str, Any] | None:
            status = self.status(name)
            return status if status["totalRequests"] >= total else None

        return wait_until(
            probe,
            15,
            f"{name} to report {total} requests",
            self.gateway.log,
        )

    def stop(self, name: str) -> None:
        """Stop `name` and wait until the gateway has a table without it."""
        cli("experiment", "stop", name, scheduler=self.cluster.scheduler.admin)
        self.started.remove(name)
        wait_until(
            lambda: infer(self.gateway, f"{name}.experiment").status == 404,
            15,
            f"the gateway to drop {name}",
            self.gateway.log,
        )

    def stop_all(self) -> None:
        for name in list(self.started):
            self.stop(name)


@pytest.fixture
def experiments(cluster: Cluster, gateway: GatewayProcess) -> Iterator[Experiments]:
    started = Experiments(cluster, gateway)
    try:
        yield started
    finally:
        started.stop_all()


def within(observed: int, n: int, p: float) -> bool:
    """Whether `observed` successes in `n` draws is within SIGMAS binomial standard deviations
    of `n * p`."""
    return abs(observed - n * p) <= SIGMAS * math.sqrt(n * p * (1 - p))


def by_model(entries: list[dict[str, Any]]) -> dict[str, int]:
    return {entry["model"]: entry["requests"] for entry in entries}


def mirrored_by_outcome(gateway: GatewayProcess, experiment: str) -> dict[str, float]:
    """`loadmaster_gateway_mirrored_requests_total` of `experiment`, by outcome."""
    with urllib.request.urlopen(gateway.url("/metrics"), timeout=10) as response:
        text = response.read().decode()
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "loadmaster_gateway_mirrored_requests"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["experiment"] == experiment
    }


def test_split_matches_the_weights_and_the_reported_counts(
    experiments: Experiments, gateway: GatewayProcess
) -> None:
    uid = experiments.start("iris-ab", AB)["uid"]
    answers = [infer(gateway, "iris") for _ in range(N)]  # no route header: the split decides
    assert [a.status for a in answers] == [200] * N
    assert [a.route for a in answers] == [a.model for a in answers]  # the header names who ran
    seen = Counter(a.model for a in answers)
    assert set(seen) <= {"iris", "iris-v2"}
    share = seen["iris"] / N
    # iris has weight 70 of 100: its share must lie within 4 binomial standard deviations
    # (sd = sqrt(0.7 * 0.3 / N), about 0.023 at N = 400) of 0.7.
    assert within(seen["iris"], N, 0.7), f"iris got {share:.3f} of {N}, expected 0.7"
    print(f"split: iris {share:.3f}, iris-v2 {seen['iris-v2'] / N:.3f} of {N}")

    status = experiments.counted("iris-ab", N)
    assert (status["uid"], status["totalRequests"]) == (uid, N)
    assert by_model(status["candidates"]) == {"iris": seen["iris"], "iris-v2": seen["iris-v2"]}
    observed = {c["model"]: c["observedShare"] for c in status["candidates"]}
    assert observed == pytest.approx({"iris": share, "iris-v2": 1 - share})
    assert status["mirror"] is None


def test_mirror_gets_its_share_and_no_client_sees_it(
    experiments: Experiments, gateway: GatewayProcess
) -> None:
    experiments.start("iris-shadowed", SHADOWED)
    answers = [infer(gateway, "iris-shadowed.experiment") for _ in range(N)]
    assert [a.status for a in answers] == [200] * N
    assert {a.model for a in answers} <= {"iris", "iris-v2"}  # never the mirror's answer
    assert [a.route for a in answers] == [a.model for a in answers]

    status = experiments.counted("iris-shadowed", N)
    assert status["totalRequests"] == N
    mirror = status["mirror"]
    assert (mirror["model"], mirror["expectedShare"]) == ("iris-shadow", 0.5)
    copies = mirror["requests"]
    # each request is copied with probability 0.5: within 4 sd (sqrt(N * 0.25) = 10) of N / 2
    assert within(copies, N, 0.5), f"the mirror got {copies} copies of {N}"
    print(f"mirror: {copies} copies of {N} ({copies / N:.3f})")

    sent = wait_until(
        lambda: (m := mirrored_by_outcome(gateway, "iris-shadowed")).get("sent") == copies and m,
        15,
        f"the gateway to have sent {copies} copies",
        gateway.log,
    )
    assert sent == {"sent": copies}  # none failed, dropped or cancelled


def test_a_client_echoing_the_route_header_stays_on_its_candidate(
    experiments: Experiments, gateway: GatewayProcess
) -> None:
    experiments.start("iris-ab", AB)
    first = infer(gateway, "iris")
    assert first.status == 200 and first.route in ("iris", "iris-v2"), first
    route = first.route
    for _ in range(30):  # a session that echoes what it got back
        answer = infer(gateway, "iris", route)
        assert (answer.status, answer.route, answer.model) == (200, route, route)
    # iris-v2 has weight 30: 30 requests all landing on it unpinned would happen once in 10^15
    pinned = [infer(gateway, "iris-ab.experiment", "iris-v2") for _ in range(30)]
    assert {(a.status, a.route, a.model) for a in pinned} == {(200, "iris-v2", "iris-v2")}
    unknown = infer(gateway, "iris", "no-such-candidate")  # not a candidate: the split decides
    assert unknown.status == 200 and unknown.route in ("iris", "iris-v2"), unknown


def test_tritonclient_grpc_through_an_experiment(
    experiments: Experiments, gateway: GatewayProcess
) -> None:
    experiments.start("iris-ab", AB)
    requests = 10
    command = [
        sys.executable, "-m", "tests.integration.clients.triton_experiment_grpc",
        "--grpc", grpc_address(gateway), "--name", "iris-ab.experiment",
        "--requests", str(requests), "--sticky", "iris-v2", "--also", "iris",
        "--unknown", "nope.experiment",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.startswith(REPORT_PREFIX)]
    assert lines, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(lines[-1].removeprefix(REPORT_PREFIX))

    for check in ("split", "also:iris"):  # by the experiment's name, and by the model it took
        assert isinstance(report[check], list), report[check]
        assert {r["model"] for r in report[check]} <= {"iris", "iris-v2"}, report[check]
        assert [r["classes"] for r in report[check]] == [[0, 2]] * requests  # setosa, virginica
    assert [r["model"] for r in report["sticky"]] == ["iris-v2"] * requests
    assert report["unknown"] == {
        "status": "StatusCode.NOT_FOUND",
        "message": "experiment 'nope.experiment' not found",
    }
    status = experiments.counted("iris-ab", 3 * requests)  # gRPC inferences count too
    assert status["totalRequests"] == 3 * requests


def test_stop_hands_the_model_back(experiments: Experiments, gateway: GatewayProcess) -> None:
    experiments.start("iris-ab", AB)
    assert infer(gateway, "iris", "iris-v2").model == "iris-v2"  # taken over
    experiments.stop("iris-ab")  # returns once the gateway answers 404 for it

    gone = infer(gateway, "iris-ab.experiment")
    assert (gone.status, gone.route) == (404, None)
    assert gone.body == {"error": "experiment 'iris-ab.experiment' not found"}
    for _ in range(10):  # the route header is no longer honoured: iris itself answers
        answer = infer(gateway, "iris", "iris-v2")
        assert (answer.status, answer.route, answer.model) == (200, None, "iris")
    admin = experiments.cluster.scheduler.admin
    status = cli("experiment", "status", "iris-ab", scheduler=admin, check=False)
    assert (status.returncode, status.stderr) == (1, "error: experiment 'iris-ab' not found\n")
