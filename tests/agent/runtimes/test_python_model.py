"""Custom Python runtime: import isolation, predict, streaming, declared datatypes, failures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.runtimes.base import RuntimeFailure
from agent.runtimes.python_model import PythonRuntime
from agent.runtimes.settings import load_settings
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.errors import BadRequest, InferenceFailed
from tests.agent.runtimes.tiny import tensor

MakeModel = Callable[[str, str, dict[str, Any]], Path]

SCALER = """
import numpy as np

FACTOR = {factor}


class Model:
    def load(self):
        self.factor = FACTOR

    def predict(self, inputs, parameters):
        x = inputs["x"]
        if x.shape[0] > 2:
            raise ValueError("scaler takes at most two rows")
        scale = self.factor * parameters.get("extra", 1)
        return {{"y": x * scale, "note": ["scaled"] * len(x), "count": np.int16(len(x))}}
"""

SCALER_SETTINGS: dict[str, Any] = {
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}],
    "outputs": [
        {"name": "note", "datatype": "BYTES", "shape": [-1]},
        {"name": "y", "datatype": "FP64", "shape": [-1]},
    ],
    "parameters": {"extra": 1},
}


def loaded(model_dir: Path) -> PythonRuntime:
    runtime = PythonRuntime("custom", model_dir, load_settings(model_dir), "cpu")
    runtime.load()
    return runtime


def test_predict_uses_declared_datatypes(python_model_dir: MakeModel) -> None:
    runtime = loaded(python_model_dir("scaler", SCALER.format(factor=3), SCALER_SETTINGS))
    outputs = runtime.predict([tensor("x", [1.0, 2.0])], {"extra": 2})
    got = [(o.name, o.datatype, o.data.tolist()) for o in outputs]
    assert got == [
        ("note", DataType.BYTES, [b"scaled", b"scaled"]),
        ("y", DataType.FP64, [6.0, 12.0]),
        ("count", DataType.INT16, 2),
    ]


def test_two_models_with_the_same_file_name_stay_apart(python_model_dir: MakeModel) -> None:
    before = set(sys.modules)
    three = loaded(python_model_dir("three", SCALER.format(factor=3), SCALER_SETTINGS))
    five = loaded(python_model_dir("five", SCALER.format(factor=5), SCALER_SETTINGS))
    assert "model" not in sys.modules
    assert three.predict([tensor("x", [1.0])], {})[1].data.tolist() == [3.0]
    assert five.predict([tensor("x", [1.0])], {})[1].data.tolist() == [5.0]
    three.unload()
    five.unload()
    assert set(sys.modules) == before


def test_model_error_is_inference_failed(python_model_dir: MakeModel) -> None:
    runtime = loaded(python_model_dir("scaler", SCALER.format(factor=1), SCALER_SETTINGS))
    with pytest.raises(InferenceFailed, match="scaler takes at most two rows"):
        runtime.predict([tensor("x", [1.0, 2.0, 3.0])], {})


def test_input_checked_against_settings(python_model_dir: MakeModel) -> None:
    runtime = loaded(python_model_dir("scaler", SCALER.format(factor=1), SCALER_SETTINGS))
    with pytest.raises(BadRequest, match="must be FP32, got INT32"):
        runtime.predict([tensor("x", [1], DataType.INT32)], {})


def test_echo_stream_example_streams_each_row(tmp_path: Path) -> None:
    from examples.models.build_examples import build_echo_stream

    runtime = loaded(build_echo_stream(tmp_path / "echo-stream"))
    text = tensor("text", [b"one", b"two", b"three"], DataType.BYTES)
    parts = list(runtime.predict_stream([text], {}))
    assert [[(o.name, o.shape, o.data.tolist()) for o in part] for part in parts] == [
        [("text", (1,), [b"one"])],
        [("text", (1,), [b"two"])],
        [("text", (1,), [b"three"])],
    ]
    [whole] = runtime.predict([text], {})
    assert whole.data.tolist() == [b"onetwothree"]


def test_stream_rejects_bad_input_before_the_first_part(tmp_path: Path) -> None:
    from examples.models.build_examples import build_echo_stream

    runtime = loaded(build_echo_stream(tmp_path / "echo-stream"))
    with pytest.raises(BadRequest, match="has no input 'words'"):
        runtime.predict_stream([tensor("words", [b"x"], DataType.BYTES)], {})


BAD_LOADS: list[tuple[str, str, dict[str, Any], str]] = [
    ("no signature", SCALER.format(factor=1), {}, "must declare inputs and outputs"),
    ("syntax error", "def (:\n", SCALER_SETTINGS, "importing model.py failed"),
    ("no class", "X = 1\n", SCALER_SETTINGS, "model:Model names no class"),
    ("load raises", "class Model:\n def load(self): 1/0\n", SCALER_SETTINGS, "failed to load"),
    ("no predict", "class Model:\n pass\n", SCALER_SETTINGS, "has no predict method"),
    (
        "missing module",
        "",
        {**SCALER_SETTINGS, "implementation": "other:Model"},
        "other.py not found",
    ),
]


@pytest.mark.parametrize(
    ("case", "source", "settings", "message"), BAD_LOADS, ids=[c[0] for c in BAD_LOADS]
)
def test_load_failures(
    python_model_dir: MakeModel, case: str, source: str, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(RuntimeFailure, match=message):
        loaded(python_model_dir("bad", source, settings))


def test_output_that_cannot_take_its_declared_type(python_model_dir: MakeModel) -> None:
    source = "class Model:\n def predict(self, inputs, parameters):\n  return {'y': ['a']}\n"
    runtime = loaded(python_model_dir("bad-output", source, SCALER_SETTINGS))
    with pytest.raises(InferenceFailed, match="output 'y'"):
        runtime.predict([tensor("x", np.zeros(1))], {})
