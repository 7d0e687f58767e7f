"""Fixtures that build tiny models into tmp_path: nothing is downloaded, everything is seeded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from agent.runtimes.base import Signature
from agent.runtimes.torchscript import save_torchscript
from loadmaster.oip.datatypes import DataType
from tests.agent.runtimes.tiny import build_bert, spec, write_settings


@pytest.fixture
def mlp() -> torch.nn.Sequential:
    torch.manual_seed(7)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()


@pytest.fixture
def scripted_mlp(tmp_path: Path, mlp: torch.nn.Sequential) -> Path:
    """TorchScript MLP 4→8→3 with an embedded signature: x FP32 [-1, 4] → scores FP32 [-1, 3]."""
    model_dir = tmp_path / "mlp"
    model_dir.mkdir()
    signature = Signature(
        inputs=(spec("x", DataType.FP32, -1, 4),), outputs=(spec("scores", DataType.FP32, -1, 3),)
    )
    save_torchscript(mlp, model_dir / "model.pt", signature)
    return model_dir


@pytest.fixture
def exported_mlp(tmp_path: Path, mlp: torch.nn.Sequential) -> Path:
    """torch.export of the same MLP, batch dimension dynamic."""
    model_dir = tmp_path / "exported"
    model_dir.mkdir()
    batch = torch.export.Dim("batch")
    program = torch.export.export(mlp, (torch.zeros(2, 4),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(model_dir / "model.pt2"))
    return model_dir


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BertForSequenceClassification with its tokenizer (tests must not edit it)."""
    return build_bert(tmp_path_factory.mktemp("hf") / "bert", tokenizer=True)


@pytest.fixture(scope="session")
def hf_dir_no_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same kind of model without tokenizer files: it takes input_ids."""
    return build_bert(tmp_path_factory.mktemp("hf") / "bert-ids", tokenizer=False)


@pytest.fixture
def python_model_dir(tmp_path: Path) -> Callable[[str, str, dict[str, Any]], Path]:
    """Write a custom Python model: (directory name, model.py source, settings) → its dir."""

    def make(name: str, source: str, settings: dict[str, Any]) -> Path:
        model_dir = tmp_path / name
        model_dir.mkdir()
        (model_dir / "model.py").write_text(source, encoding="utf-8")
        write_settings(model_dir, settings)
        return model_dir

    return make
