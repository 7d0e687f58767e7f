"""The GPUs this server offers the scheduler, found with `nvidia-smi`.

The agent process must never import torch (only the runtimes in the worker processes do; a
CUDA context in the parent would be copied into every worker), so capacity comes from the
driver's own tool. No binary, or a tool that fails, means no GPUs: a CPU server is a valid
answer, and the scheduler then simply places no GPU model here.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from loadmaster import logs

log = logs.get_logger("agent.gpus")

QUERY = ("--query-gpu=index,memory.total", "--format=csv,noheader,nounits")
MIB = 2**20


@dataclass(frozen=True, slots=True)
class Gpu:
    index: int
    memory_bytes: int


class GpuQueryError(ValueError):
    pass


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """Parse `index, memory.total` lines (MiB, no units), e.g. "0, 81559", sorted by index."""
    gpus: list[Gpu] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            index, mib = int(fields[0]), int(fields[1])
        except (IndexError, ValueError):
            raise GpuQueryError(f"nvidia-smi line {number}: cannot read {line!r}") from None
        if index < 0 or mib < 0:
            raise GpuQueryError(f"nvidia-smi line {number}: negative value in {line!r}")
        gpus.append(Gpu(index, mib * MIB))
    return sorted(gpus, key=lambda g: g.index)


def _run_nvidia_smi(binary: str, timeout_s: float) -> str:
    done = subprocess.run(
        [binary, *QUERY], capture_output=True, text=True, timeout=timeout_s, check=True
    )
    return done.stdout


def discover_gpus(
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[[str, float], str] = _run_nvidia_smi,
    timeout_s: float = 10.0,
) -> list[Gpu]:
    """The local GPUs, or none when `nvidia-smi` is absent or fails (logged, never raised)."""
    binary = which("nvidia-smi")
    if binary is None:
        return []
    try:
        gpus = parse_nvidia_smi(run(binary, timeout_s))
    except (OSError, subprocess.SubprocessError, GpuQueryError) as exc:
        log.warning("cannot query GPUs; offering none", error=str(exc))
        return []
    log.info("GPUs found", gpus=[(g.index, g.memory_bytes) for g in gpus])
    return gpus
