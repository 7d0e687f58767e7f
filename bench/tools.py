"""Install, once and idempotently, what the benchmarks need beyond the project's own venv.

* Load generators from Debian: `wrk` (HTTP/1.1) and `h2load` (HTTP/2, package nghttp2-client).
* `bench/.venv-mlserver`: MLServer 1.7.x for the peer comparison, in a venv of its own so its
  pins never touch the project's. torch is pinned to the project's exact version (a CPU wheel
  is in pip's find-links; an unpinned torch would pull gigabytes of CUDA packages).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import BENCH_DIR, BenchError, log

MLSERVER_VENV = BENCH_DIR / ".venv-mlserver"
TORCH_REQUIREMENT = "torch==2.13.0"
MLSERVER_REQUIREMENTS = (
    "mlserver==1.7.*",
    TORCH_REQUIREMENT,
    # uvloop 0.22 made get_event_loop() raise outside a running loop; MLServer 1.7.1's
    # parallel-inference workers call it at start-up and die in a restart loop with 0.22+.
    "uvloop<0.22",
)
_STAMP = ".bench-requirements"

DEBIAN_TOOLS = {"wrk": "wrk", "h2load": "nghttp2-client"}


def ensure_debian_tools(tools: dict[str, str] = DEBIAN_TOOLS) -> dict[str, str]:
    """The path of each tool (binary name -> Debian package), installing missing ones."""
    missing = sorted({package for binary, package in tools.items() if not shutil.which(binary)})
    if missing:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise BenchError(
                "missing load generators; install them with: apt-get install -y "
                + " ".join(missing)
            )
        log(f"installing {', '.join(missing)} from Debian")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", *missing]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            result = subprocess.run(install, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise BenchError(f"apt-get install {' '.join(missing)} failed:\n{result.stderr}")
    paths: dict[str, str] = {}
    for binary in tools:
        found = shutil.which(binary)
        if found is None:
            raise BenchError(f"{binary} is still missing after installing {tools[binary]}")
        paths[binary] = found
    return paths


def tool_version(argv: list[str]) -> str:
    """The first line a tool prints about its version ('' when it prints none)."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else ""


def ensure_mlserver_venv(venv: Path = MLSERVER_VENV) -> Path:
    """`venv` with MLServer 1.7.x and the pinned torch; returns its python."""
    python = venv / "bin" / "python"
    stamp = venv / _STAMP
    wanted = "\n".join(MLSERVER_REQUIREMENTS) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return python
    log(f"setting up {venv.relative_to(BENCH_DIR.parent)} (MLServer 1.7.x, {TORCH_REQUIREMENT})")
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)], "creating the MLServer venv")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # torch first and alone, as the project's Makefile does, so the CPU wheel is the one taken.
    _run([*pip, TORCH_REQUIREMENT], f"pip install {TORCH_REQUIREMENT}")
    _run([*pip, *MLSERVER_REQUIREMENTS], "pip install " + " ".join(MLSERVER_REQUIREMENTS))
    check = "import mlserver, torch; print(mlserver.__version__, torch.__version__)"
    versions = subprocess.run([str(python), "-c", check], capture_output=True, text=True)
    if versions.returncode != 0 or not versions.stdout.startswith("1.7."):
        raise BenchError(f"MLServer venv is not usable: {versions.stdout}{versions.stderr}")
    stamp.write_text(wanted, encoding="utf-8")
    log(f"MLServer venv ready: mlserver, torch = {versions.stdout.strip()}")
    return python


def mlserver_versions(python: Path) -> dict[str, str]:
    """Versions of the packages in the MLServer venv that the comparison depends on."""
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({p: m.version(p) for p in "
        "('mlserver', 'torch', 'uvloop', 'grpcio', 'fastapi', 'uvicorn', 'numpy')}))"
    )
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        return {}
    parsed = json.loads(result.stdout)
    return {str(k): str(v) for k, v in parsed.items()}


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if not line.startswith("WARNING: Location")
        ]
        raise BenchError(f"{what} failed:\n" + "\n".join(lines[-30:]))
