"""`loadmaster experiment ...` end to end: `main([...])` over real gRPC to a fake scheduler.

What is checked is what users and scripts read: the lines printed, the JSON keys, the exit
statuses (0 done, 1 failed, 2 bad input) and `error: ...` messages without tracebacks.
"""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path

import pytest

from loadmaster.cli.main import main
from tests.loadmaster.cli.harness import Cli, write
from tests.loadmaster.client.fakes import FakeScheduler

AB = """\
apiVersion: mlops.seldon.io/v1alpha1
kind: Experiment
metadata: {name: ab}
spec:
  default: iris
  candidates:
  - {name: iris, weight: 50}
  - {name: iris-v2, weight: %d}
  mirror: {name: shadow, percent: 20}
"""
CD = """\
apiVersion: loadmaster.io/v1alpha1
kind: Experiment
metadata: {name: cd}
spec:
  candidates: [{name: c, weight: 1}, {name: d, weight: 1}]
"""
MODEL = """\
apiVersion: loadmaster.io/v1alpha1
kind: Model
metadata: {name: iris}
spec: {storageUri: file:///models/iris}
"""


def test_start_reports_started_unchanged_changed(cli: Cli, tmp_path: Path) -> None:
    both = write(tmp_path, "both.yaml", AB % 50 + "---\n" + CD)
    assert cli("experiment", "start", "-f", both) == (
        0,
        "experiment ab: uid 1 (started)\nexperiment cd: uid 2 (started)\n",
        "",
    )
    assert cli("experiment", "start", "-f", both)[1] == (
        "experiment ab: uid 1 (unchanged)\nexperiment cd: uid 2 (unchanged)\n"
    )
    changed = write(tmp_path, "ab.yaml", AB % 150)
    assert cli.json("experiment", "start", "-f", changed) == [
        {"name": "ab", "uid": 3, "result": "changed"}
    ]


def test_start_reads_stdin(cli: Cli, fake: FakeScheduler, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(CD))
    assert cli("experiment", "start", "-f", "-")[:2] == (0, "experiment cd: uid 1 (started)\n")
    assert [c.model for c in fake.experiments["cd"][0].candidates] == ["c", "d"]


def test_start_refuses_bad_input_before_sending(
    cli: Cli, fake: FakeScheduler, tmp_path: Path
) -> None:
    mixed = write(tmp_path, "mixed.yaml", CD + "---\n" + MODEL)
    status, out, err = cli("experiment", "start", "-f", mixed)
    assert (status, out) == (2, "")
    assert err == (
        f"error: {mixed}: document 2 (Model iris): kind Model is not an experiment: load "
        "models with `loadmaster model load -f FILE`\n"
    )
    typo = write(tmp_path, "typo.yaml", CD.replace("weight: 1}]", "wieght: 1}]"))
    status, _, err = cli("experiment", "start", "-f", typo)
    assert status == 2
    assert "spec.candidates[1].wieght: unknown field (did you mean weight?)" in err
    empty = write(tmp_path, "empty.yaml", "# nothing\n")
    assert cli("experiment", "start", "-f", empty)[::2] == (
        2,
        f"error: no Experiment documents in {empty}\n",
    )
    assert fake.experiments == {}


def test_start_refused_by_the_scheduler_exits_2(cli: Cli, tmp_path: Path) -> None:
    cli("experiment", "start", "-f", write(tmp_path, "ab.yaml", AB % 50))
    rival = AB.replace("name: ab", "name: rival") % 50
    status, out, err = cli("experiment", "start", "-f", write(tmp_path, "r.yaml", rival))
    assert (status, out) == (2, "")
    assert err == (
        "error: experiment rival: spec.default: model 'iris' is already taken over by "
        "experiment 'ab'\n"
    )


def test_model_load_refuses_experiments(cli: Cli, fake: FakeScheduler, tmp_path: Path) -> None:
    both = write(tmp_path, "both.yaml", MODEL + "---\n" + CD)
    status, _, err = cli("model", "load", "-f", both)
    assert status == 2
    assert err == (
        f"error: {both}: document 2 (Experiment cd): kind Experiment is not a model: start "
        "experiments with `loadmaster experiment start -f FILE`\n"
    )
    assert fake.models == {}


def test_status_table_and_json(cli: Cli, fake: FakeScheduler, tmp_path: Path) -> None:
    cli("experiment", "start", "-f", write(tmp_path, "ab.yaml", AB % 150))
    cli("model", "load", "-f", write(tmp_path, "iris.yaml", MODEL))
    fake.set_state("iris", "ModelAvailable")
    status, out, _ = cli("experiment", "status", "ab")
    assert status == 0
    assert out == (
        "name:     ab\n"
        "uid:      1\n"
        "state:    ExperimentWaiting\n"
        "default:  iris\n"
        "requests: 0\n"
        "reason:   not ready: iris-v2, shadow\n"
        "\n"
        "MODEL    ROLE       WEIGHT  EXPECTED  OBSERVED  REQUESTS  READY  STATE\n"
        "iris     candidate  50      25.0%     -         0         yes    ModelAvailable\n"
        "iris-v2  candidate  150     75.0%     -         0         no     -\n"
        "shadow   mirror     -       20.0%     -         0         no     -\n"
    )
    fake.traffic[("g", "p", "ab", 1, "iris", False)] = 30
    fake.traffic[("g", "p", "ab", 1, "iris-v2", False)] = 70
    fake.traffic[("g", "p", "ab", 1, "shadow", True)] = 21
    _, out, _ = cli("experiment", "status", "ab")
    assert "iris     candidate  50      25.0%     30.0%     30        yes" in out
    assert "shadow   mirror     -       20.0%     21.0%     21        no" in out
    data = cli.json("experiment", "status", "ab")
    assert sorted(data) == sorted(
        ["name", "uid", "state", "reason", "default", "totalRequests", "candidates", "mirror"]
    )
    assert (data["totalRequests"], data["mirror"]["requests"]) == (100, 21)


def test_status_wait(cli: Cli, fake: FakeScheduler, tmp_path: Path) -> None:
    cli("experiment", "start", "-f", write(tmp_path, "cd.yaml", CD))
    for name in ("c", "d"):
        model = MODEL.replace("name: iris", f"name: {name}")
        cli("model", "load", "-f", write(tmp_path, f"{name}.yaml", model))
    fake.set_state("c", "ModelAvailable")
    status, _, err = cli("experiment", "status", "cd", "--wait", "--timeout", "0.2")
    assert (status, err) == (
        1,
        "error: experiment cd was not ExperimentReady within 0.2s; last state "
        "ExperimentWaiting (not ready: d)\n",
    )
    threading.Timer(0.1, fake.set_state, ("d", "ModelAvailable")).start()
    data = cli.json("experiment", "status", "cd", "--wait", "--timeout", "10")
    assert data["state"] == "ExperimentReady"
    assert cli("experiment", "status", "cd", "--timeout", "5")[::2] == (
        2,
        "error: --timeout needs --wait\n",
    )


def test_list_stop_and_not_found(cli: Cli, tmp_path: Path) -> None:
    status, out, err = cli("experiment", "list")
    assert (status, out, err) == (0, "", "no experiments\n")
    cli("experiment", "start", "-f", write(tmp_path, "both.yaml", AB % 50 + "---\n" + CD))
    _, out, _ = cli("experiment", "list")
    assert out.splitlines() == [
        "NAME  STATE              DEFAULT  CANDIDATES          MIRROR      REQUESTS  REASON",
        "ab    ExperimentWaiting  iris     iris:50,iris-v2:50  shadow:20%  0         "
        "not ready: iris, iris-v2, shadow",
        "cd    ExperimentWaiting  -        c:1,d:1             -           0         "
        "not ready: c, d",
    ]
    assert [e["name"] for e in cli.json("experiment", "list")] == ["ab", "cd"]
    assert cli("experiment", "stop", "ab")[:2] == (0, "experiment ab: stopped\n")
    assert cli.json("experiment", "stop", "cd") == {"name": "cd", "result": "stopped"}
    assert cli("experiment", "stop", "ab")[::2] == (1, "error: experiment 'ab' not found\n")
    assert cli("experiment", "status", "ab")[::2] == (1, "error: experiment 'ab' not found\n")


def test_unreachable_scheduler_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["experiment", "list", "--scheduler", "127.0.0.1:1"])
    assert status == 1
    assert "cannot reach the scheduler at 127.0.0.1:1" in capsys.readouterr().err
