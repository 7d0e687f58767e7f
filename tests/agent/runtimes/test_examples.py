"""The example models build, load through create_runtime, and answer as documented."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.runtimes.base import Signature
from agent.runtimes.select import create_runtime
from agent.runtimes.settings import load_settings
from examples.models.build_examples import build_all
from loadmaster.oip.datatypes import DataType
from tests.agent.runtimes.tiny import spec, tensor

CAPABILITIES = frozenset({"torch", "python"})


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {path.name: path for path in build_all(tmp_path_factory.mktemp("examples"))}


def test_builds_the_four_examples(examples: dict[str, Path]) -> None:
    assert sorted(examples) == ["echo-stream", "identity", "iris", "mlp"]


@pytest.mark.parametrize(
    ("name", "signature"),
    [
        (
            "iris",
            Signature(
                (spec("input", DataType.FP32, -1, 4),),
                (spec("probabilities", DataType.FP32, -1, 3),),
            ),
        ),
        (
            "mlp",
            Signature(
                (spec("input", DataType.FP32, -1, 32),), (spec("output", DataType.FP32, -1, 8),)
            ),
        ),
        (
            "identity",
            Signature(
                (spec("input", DataType.FP32, -1, -1),), (spec("output", DataType.FP32, -1, -1),)
            ),
        ),
        (
            "echo-stream",
            Signature((spec("text", DataType.BYTES, -1),), (spec("text", DataType.BYTES, 1),)),
        ),
    ],
)
def test_signatures(examples: dict[str, Path], name: str, signature: Signature) -> None:
    runtime = create_runtime(name, examples[name], CAPABILITIES, "cpu")
    runtime.load()
    assert runtime.signature() == signature


def test_iris_batches_and_classifies(examples: dict[str, Path]) -> None:
    settings = load_settings(examples["iris"])
    assert (settings.max_batch_size, settings.max_batch_time_ms) == (32, 2.0)
    runtime = create_runtime("iris", examples["iris"], CAPABILITIES, "cpu")
    runtime.load()
    flowers = [[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 4.5, 1.4], [6.9, 3.1, 5.8, 2.2]]
    [out] = runtime.predict([tensor("input", flowers)], {})
    assert out.data.argmax(axis=1).tolist() == [0, 1, 2]  # setosa, versicolor, virginica
    np.testing.assert_allclose(out.data.sum(axis=1), 1.0, rtol=1e-5)


def test_builds_are_deterministic(tmp_path: Path, examples: dict[str, Path]) -> None:
    again = {path.name: path for path in build_all(tmp_path)}
    rows = np.random.default_rng(2).normal(size=(3, 32)).astype(np.float32)
    answers = []
    for model_dir in (examples["mlp"], again["mlp"]):
        runtime = create_runtime("mlp", model_dir, CAPABILITIES, "cpu")
        runtime.load()
        answers.append(runtime.predict([tensor("input", rows)], {})[0].data)
    np.testing.assert_array_equal(answers[0], answers[1])


def test_identity_returns_its_input(examples: dict[str, Path]) -> None:
    runtime = create_runtime("identity", examples["identity"], CAPABILITIES, "cpu")
    runtime.load()
    [out] = runtime.predict([tensor("input", [[1.5, -2.0, 3.0]])], {})
    assert (out.name, out.data.tolist()) == ("output", [[1.5, -2.0, 3.0]])


def test_model_yaml_points_at_the_build_dir() -> None:
    import yaml

    folder = Path(__file__).resolve().parents[3] / "examples" / "models"
    for name in ("iris", "mlp"):
        document = yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))
        assert (document["kind"], document["metadata"]["name"]) == ("Model", name)
        assert document["spec"]["storageUri"] == f"file://./.data/models/{name}"
        assert document["spec"]["requirements"] == ["torch"]
