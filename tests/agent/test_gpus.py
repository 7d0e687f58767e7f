from __future__ import annotations

import subprocess

import pytest

from agent.gpus import MIB, Gpu, GpuQueryError, discover_gpus, parse_nvidia_smi

SAMPLE = "0, 81559\n1, 81559\n\n"


def test_parse_reads_index_and_mib() -> None:
    assert parse_nvidia_smi(SAMPLE) == [Gpu(0, 81559 * MIB), Gpu(1, 81559 * MIB)]


def test_parse_sorts_by_index_and_allows_no_gpus() -> None:
    assert [g.index for g in parse_nvidia_smi("3, 10\n1, 20\n")] == [1, 3]
    assert parse_nvidia_smi("") == []


@pytest.mark.parametrize("text", ["0", "0, [N/A]", "zero, 100", "-1, 100"])
def test_parse_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(GpuQueryError):
        parse_nvidia_smi(text)


def test_no_binary_means_no_gpus() -> None:
    def never_run(binary: str, timeout_s: float) -> str:
        raise AssertionError("nvidia-smi must not run when it is not installed")

    assert discover_gpus(which=lambda name: None, run=never_run) == []


def test_discovery_runs_the_query() -> None:
    seen: list[str] = []

    def run(binary: str, timeout_s: float) -> str:
        seen.append(binary)
        return "0, 1024\n"

    assert discover_gpus(which=lambda name: f"/usr/bin/{name}", run=run) == [Gpu(0, 2**30)]
    assert seen == ["/usr/bin/nvidia-smi"]


@pytest.mark.parametrize(
    "failure",
    [
        subprocess.CalledProcessError(9, "nvidia-smi"),
        subprocess.TimeoutExpired("nvidia-smi", 10),
        FileNotFoundError("nvidia-smi"),
    ],
)
def test_a_failing_query_means_no_gpus(failure: Exception) -> None:
    def run(binary: str, timeout_s: float) -> str:
        raise failure

    assert discover_gpus(which=lambda name: "/usr/bin/nvidia-smi", run=run) == []


def test_garbage_output_means_no_gpus() -> None:
    def run(binary: str, timeout_s: float) -> str:
        return "NVIDIA-SMI has failed because it couldn't communicate with the driver"

    assert discover_gpus(which=lambda name: "nvidia-smi", run=run) == []
