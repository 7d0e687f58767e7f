"""Runtime selection: directory contents x agent capabilities → runtime class or a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.runtimes.base import Runtime, RuntimeFailure
from agent.runtimes.exported import ExportedRuntime
from agent.runtimes.huggingface import HuggingFaceRuntime
from agent.runtimes.python_model import PythonRuntime
from agent.runtimes.select import create_runtime, select_runtime
from agent.runtimes.torchscript import TorchScriptRuntime
from tests.agent.runtimes.tiny import write_settings

ALL = frozenset({"torch", "huggingface", "python"})
TORCH = frozenset({"torch"})

# (case, files to create (name → content), capabilities, expected class or error fragment)
CASES: list[tuple[str, dict[str, str], frozenset[str], type[Runtime] | str]] = [
    ("exported", {"model.pt2": ""}, TORCH, ExportedRuntime),
    ("torchscript", {"model.pt": ""}, TORCH, TorchScriptRuntime),
    ("pt2 wins over pt", {"model.pt2": "", "model.pt": ""}, TORCH, ExportedRuntime),
    ("hf safetensors", {"config.json": "{}", "model.safetensors": ""}, ALL, HuggingFaceRuntime),
    ("hf bin", {"config.json": "{}", "pytorch_model.bin": ""}, ALL, HuggingFaceRuntime),
    ("model.py", {"model.py": ""}, ALL, PythonRuntime),
    ("artifact wins over model.py", {"model.py": "", "model.pt": ""}, ALL, TorchScriptRuntime),
    (
        "implementation wins over artifact",
        {"model.pt": "", "model-settings.yaml": "implementation: serve:Model\n"},
        ALL,
        PythonRuntime,
    ),
    ("torch missing", {"model.pt": ""}, frozenset({"python"}), "needs capability 'torch'"),
    ("hf needs huggingface", {"config.json": "{}", "model.safetensors": ""}, TORCH, "huggingface"),
    (
        "python is opt-in",
        {"model.py": ""},
        TORCH,
        "needs capability 'python'; this agent has: torch",
    ),
    ("config without weights", {"config.json": "{}"}, ALL, "holds config.json; expected model.pt2"),
    ("empty", {}, ALL, "holds nothing"),
    ("bad settings", {"model.pt": "", "model-settings.yaml": "device: gpu\n"}, ALL, "device must"),
]


@pytest.mark.parametrize(
    ("case", "files", "capabilities", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_selection(
    tmp_path: Path,
    case: str,
    files: dict[str, str],
    capabilities: frozenset[str],
    expected: type[Runtime] | str,
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    if isinstance(expected, str):
        with pytest.raises(RuntimeFailure) as caught:
            select_runtime(tmp_path, capabilities)
        assert expected in str(caught.value)
    else:
        assert select_runtime(tmp_path, capabilities) is expected


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match="does not exist"):
        select_runtime(tmp_path / "nope", ALL)


def test_create_runtime_builds_a_loadable_runtime(scripted_mlp: Path) -> None:
    runtime = create_runtime("mlp", scripted_mlp, TORCH, device_preference="cpu")
    assert (type(runtime), runtime.name, runtime.device) == (TorchScriptRuntime, "mlp", "cpu")
    runtime.load()
    assert [s.name for s in runtime.signature().inputs] == ["x"]


def test_create_runtime_reads_settings(scripted_mlp: Path) -> None:
    write_settings(scripted_mlp, {"max_batch_size": 8, "device": "cpu"})
    runtime = create_runtime("mlp", scripted_mlp, TORCH)
    assert (runtime.settings.max_batch_size, runtime.device) == (8, "cpu")


def test_python_models_stay_on_cpu_unless_they_ask(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text("", encoding="utf-8")
    assert create_runtime("p", tmp_path, ALL, device_preference="cuda").device == "cpu"
