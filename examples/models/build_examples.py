"""Build the example models that the demo, the integration tests and the benchmarks serve.

    python examples/models/build_examples.py --out .data/models

Nothing is downloaded: every weight comes from a fixed seed, so two builds give the same
numbers. `iris` is even trained (a second on a CPU) on samples drawn around the published
per-class means of Fisher's iris measurements, so its answers make sense to a human reader.
The Model YAML files beside this script point at `file://./.data/models/<name>`.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import torch
import yaml

from agent.runtimes.base import Signature
from agent.runtimes.settings import SETTINGS_FILE
from agent.runtimes.torchscript import save_torchscript
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.types import TensorSpec

SEED = 20240601

# Per-class mean and standard deviation of sepal length/width, petal length/width (cm).
_IRIS_CLASSES = (
    ((5.006, 3.428, 1.462, 0.246), (0.35, 0.38, 0.17, 0.11)),  # setosa
    ((5.936, 2.770, 4.260, 1.326), (0.52, 0.31, 0.47, 0.20)),  # versicolor
    ((6.588, 2.974, 5.552, 2.026), (0.64, 0.32, 0.55, 0.27)),  # virginica
)

_ECHO_STREAM_SOURCE = '''"""Echo model for streaming tests: rows of `text` come back as parts."""

import numpy as np


class EchoStream:
    def predict(self, inputs, parameters):
        rows = [bytes(row) for row in inputs["text"].ravel()]
        return {"text": np.array([b"".join(rows)], dtype=object)}

    def predict_stream(self, inputs, parameters):
        for row in inputs["text"].ravel():
            yield {"text": np.array([bytes(row)], dtype=object)}
'''


class Classifier(torch.nn.Module):
    """An MLP whose output is class probabilities (softmax over the last layer)."""

    def __init__(self, layers: torch.nn.Sequential) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.layers(x), dim=-1)


class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def build_all(out: Path) -> list[Path]:
    """Build every example under `out`; returns the model directories."""
    return [
        build_iris(out / "iris"),
        build_mlp(out / "mlp"),
        build_identity(out / "identity"),
        build_echo_stream(out / "echo-stream"),
    ]


def build_iris(model_dir: Path) -> Path:
    """TorchScript 4→16→3 classifier with batching enabled in its model-settings."""
    torch.manual_seed(SEED)
    layers = _mlp(4, 16, 3)
    features, labels = _iris_samples(per_class=100)
    optimiser = torch.optim.Adam(layers.parameters(), lr=0.03)
    for _ in range(300):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(layers(features), labels)
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    signature = _signature("input", 4, "probabilities", 3)
    _save(model_dir, Classifier(layers), signature)
    _write_yaml(model_dir / SETTINGS_FILE, {"max_batch_size": 32, "max_batch_time_ms": 2})
    return model_dir


def build_mlp(model_dir: Path) -> Path:
    """TorchScript 32→64→64→8 MLP with seeded random weights (the benchmark model)."""
    torch.manual_seed(SEED + 1)
    _save(model_dir, _mlp(32, 64, 64, 8), _signature("input", 32, "output", 8))
    return model_dir


def build_identity(model_dir: Path) -> Path:
    """TorchScript identity on FP32 matrices of any shape."""
    _save(model_dir, Identity(), _signature("input", -1, "output", -1))
    return model_dir


def build_echo_stream(model_dir: Path) -> Path:
    """Custom Python model that streams each row of its BYTES input back as a part."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.py").write_text(_ECHO_STREAM_SOURCE, encoding="utf-8")
    settings = {
        "implementation": "model:EchoStream",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": "text", "datatype": "BYTES", "shape": [1]}],
    }
    _write_yaml(model_dir / SETTINGS_FILE, settings)
    return model_dir


def _mlp(*widths: int) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for index, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
        if index:
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(width_in, width_out))
    return torch.nn.Sequential(*layers)


def _iris_samples(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(SEED)
    features, labels = [], []
    for label, (mean, std) in enumerate(_IRIS_CLASSES):
        noise = torch.randn(per_class, 4, generator=generator)
        features.append(torch.tensor(mean) + noise * torch.tensor(std))
        labels.append(torch.full((per_class,), label, dtype=torch.int64))
    return torch.cat(features), torch.cat(labels)


def _signature(input_name: str, width_in: int, output_name: str, width_out: int) -> Signature:
    return Signature(
        inputs=(TensorSpec(input_name, DataType.FP32, (-1, width_in)),),
        outputs=(TensorSpec(output_name, DataType.FP32, (-1, width_out)),),
    )


def _save(model_dir: Path, module: torch.nn.Module, signature: Signature) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    save_torchscript(module, model_dir / "model.pt", signature)


def _write_yaml(path: Path, document: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(".data/models"), help="target folder")
    args = parser.parse_args(argv)
    for model_dir in build_all(args.out):
        print(model_dir)


if __name__ == "__main__":
    main()
