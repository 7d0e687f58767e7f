"""GPU paths: the same models on CUDA answer like on the CPU, and memory is reported and freed.

Skipped, visibly, where this machine has no CUDA device (brief §8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agent.runtimes.base import ModelSettings
from agent.runtimes.device import choose_device, cuda_memory_allocated
from agent.runtimes.exported import ExportedRuntime
from agent.runtimes.huggingface import HuggingFaceRuntime
from agent.runtimes.torchscript import TorchScriptRuntime
from loadmaster.oip.datatypes import DataType
from tests.agent.runtimes.tiny import Scale, script_plain, spec, tensor

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")

ROWS = np.random.default_rng(5).normal(size=(6, 4)).astype(np.float32)


def test_auto_picks_a_gpu() -> None:
    assert choose_device("auto", "auto").startswith("cuda:")


@pytest.mark.parametrize("runtime_cls", [TorchScriptRuntime, ExportedRuntime])
def test_torch_model_on_gpu_matches_cpu(
    scripted_mlp: Path, exported_mlp: Path, runtime_cls: type[TorchScriptRuntime]
) -> None:
    model_dir = scripted_mlp if runtime_cls is TorchScriptRuntime else exported_mlp
    name = "x" if runtime_cls is TorchScriptRuntime else "input"
    answers = []
    for device in ("cpu", "cuda:0"):
        runtime = runtime_cls("m", model_dir, ModelSettings(), device)
        runtime.load()
        answers.append(runtime.predict([tensor(name, ROWS)], {})[0].data)
        if device != "cpu":
            assert cuda_memory_allocated(device) > 0
        runtime.unload()
    np.testing.assert_allclose(answers[1], answers[0], rtol=1e-4, atol=1e-5)


def test_bf16_on_gpu(tmp_path: Path) -> None:
    settings = ModelSettings(
        inputs=(spec("x", DataType.BF16, -1),), outputs=(spec("y", DataType.BF16, -1),)
    )
    runtime = TorchScriptRuntime(
        "half", script_plain(Scale(2.0, 0.0), tmp_path), settings, "cuda:0"
    )
    runtime.load()
    bits = torch.tensor([1.5, -3.0]).to(torch.bfloat16).view(torch.uint16).numpy()
    [out] = runtime.predict([tensor("x", bits, DataType.BF16)], {})
    assert torch.from_numpy(out.data.copy()).view(torch.bfloat16).float().tolist() == [3.0, -6.0]


def test_huggingface_on_gpu(hf_dir: Path) -> None:
    texts = tensor("text", [b"good movie", b"bad"], DataType.BYTES)
    answers = []
    for device in ("cpu", "cuda:0"):
        runtime = HuggingFaceRuntime("bert", hf_dir, ModelSettings(), device)
        runtime.load()
        answers.append(runtime.predict([texts], {"return_probabilities": True})[1].data)
        runtime.unload()
    np.testing.assert_allclose(answers[1], answers[0], rtol=1e-3, atol=1e-4)
