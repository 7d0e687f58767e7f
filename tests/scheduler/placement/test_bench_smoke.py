"""The placement benchmark still runs end to end (small, and never judged on time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.common import Options
from bench.placement import Workload, run


def test_benchmark_runs_and_reports_both_placers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = run(Options(results_dir=tmp_path), Workload(servers=40, replicas=200, seed=3))
    out = capsys.readouterr().out
    assert "best-fit (default)" in out and "spread (peer)" in out
    document = json.loads(path.read_text())
    assert [p["placer"] for p in document["placers"]] == ["best-fit (default)", "spread (peer)"]
    assert all(0 < p["replicas_placed"] <= 200 for p in document["placers"])
    assert set(document["targets"]) == {"p50_le_1ms", "servers_le_0.8x_spread"}
