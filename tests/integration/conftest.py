from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.models.build_examples import build_all
from tests.integration.harness import AgentProcess, start_agent
from tests.integration.kafka_fixtures import kafka_bootstrap  # noqa: F401 (a fixture)

SLEEPY_MODEL = '''
import os
import time

import numpy as np


class Sleepy:
    """Sleeps for its input's first value in seconds, echoes it, and names its process."""

    def predict(self, inputs, parameters):
        x = inputs["x"]
        time.sleep(float(x.reshape(-1)[0]))
        return {"y": x, "pid": np.asarray([os.getpid()], dtype=np.int64)}
'''

SLEEPY_SETTINGS = """
implementation: sleepy:Sleepy
inputs:
  - {name: x, datatype: FP32, shape: [-1]}
outputs:
  - {name: y, datatype: FP32, shape: [-1]}
  - {name: pid, datatype: INT64, shape: [1]}
"""


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_all(root)
    sleepy = root / "sleepy"
    sleepy.mkdir()
    (sleepy / "sleepy.py").write_text(textwrap.dedent(SLEEPY_MODEL))
    (sleepy / "model-settings.yaml").write_text(SLEEPY_SETTINGS)
    return root


@pytest.fixture(scope="module")
def agent(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    work = tmp_path_factory.mktemp("agent")
    process = start_agent(work, models_dir, "--max-body", "1Mi", workers=2)
    yield process
    process.stop()
