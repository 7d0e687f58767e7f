"""model-settings.yaml: good files parse to ModelSettings, each bad field is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.runtimes.base import ModelSettings, RuntimeFailure
from agent.runtimes.settings import load_settings, parse_settings
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.types import TensorSpec
from tests.agent.runtimes.tiny import write_settings


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == ModelSettings()


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / "model-settings.yaml").write_text("", encoding="utf-8")
    assert load_settings(tmp_path) == ModelSettings()


def test_full_file(tmp_path: Path) -> None:
    write_settings(
        tmp_path,
        {
            "inputs": [{"name": "x", "datatype": "fp32", "shape": [-1, 4]}],
            "outputs": [{"name": "y", "datatype": "BF16", "shape": [-1]}],
            "max_batch_size": 32,
            "max_batch_time_ms": 2,
            "parameters": {"return_labels": True, "top_k": 3},
            "implementation": "pkg.model:Model",
            "device": "cpu",
        },
    )
    assert load_settings(tmp_path) == ModelSettings(
        inputs=(TensorSpec("x", DataType.FP32, (-1, 4)),),
        outputs=(TensorSpec("y", DataType.BF16, (-1,)),),
        max_batch_size=32,
        max_batch_time_ms=2.0,
        parameters={"return_labels": True, "top_k": 3},
        implementation="pkg.model:Model",
        device="cpu",
    )


_X = {"name": "x", "datatype": "FP32", "shape": [-1]}

BAD: list[tuple[str, Any, str]] = [
    ("not a mapping", [1, 2], "must hold a mapping"),
    ("unknown key", {"max_batch_sise": 4}, "unknown key 'max_batch_sise'"),
    ("batch size text", {"max_batch_size": "x"}, "max_batch_size must be an integer >= 1, got 'x'"),
    ("batch size zero", {"max_batch_size": 0}, "max_batch_size must be an integer >= 1, got 0"),
    ("batch size bool", {"max_batch_size": True}, "max_batch_size must be an integer >= 1"),
    ("batch time negative", {"max_batch_time_ms": -1}, "max_batch_time_ms must be a number >= 0"),
    ("parameters list", {"parameters": [1]}, "parameters must be a mapping"),
    ("parameter value list", {"parameters": {"a": [1]}}, "parameters.a must be a boolean"),
    ("implementation no class", {"implementation": "model"}, "implementation must look like"),
    ("implementation path", {"implementation": "../x:Y"}, "implementation must look like"),
    ("device", {"device": "tpu"}, "device must be one of auto, cpu, cuda, got 'tpu'"),
    ("inputs not list", {"inputs": {"name": "x"}}, "inputs must be a list"),
    ("spec not mapping", {"inputs": ["x"]}, "inputs[0] must be a mapping"),
    ("spec unknown key", {"inputs": [{**_X, "dims": [1]}]}, "inputs[0]: unknown key 'dims'"),
    ("spec no name", {"outputs": [{"datatype": "FP32", "shape": []}]}, "outputs[0].name"),
    ("spec datatype", {"inputs": [{**_X, "datatype": "FP8"}]}, "inputs[0].datatype: unknown"),
    ("spec shape text", {"inputs": [{**_X, "shape": "[-1]"}]}, "inputs[0].shape must be a list"),
    ("spec shape -2", {"inputs": [{**_X, "shape": [-2]}]}, "inputs[0].shape must be a list"),
    ("spec duplicate", {"inputs": [_X, _X]}, "inputs[1]: duplicate tensor name 'x'"),
]


@pytest.mark.parametrize(("case", "document", "message"), BAD, ids=[c[0] for c in BAD])
def test_bad_settings_name_the_field(case: str, document: Any, message: str) -> None:
    with pytest.raises(RuntimeFailure) as caught:
        parse_settings(document)
    assert str(caught.value).startswith("model-settings.yaml")
    assert message in str(caught.value)


def test_unparsable_yaml(tmp_path: Path) -> None:
    (tmp_path / "model-settings.yaml").write_text("inputs: [\n", encoding="utf-8")
    with pytest.raises(RuntimeFailure, match=r"model-settings\.yaml: cannot be read"):
        load_settings(tmp_path)
