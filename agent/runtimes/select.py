"""Choose a runtime from what a model directory holds, and build it on the right device.

Users do not name a runtime: the artifact says what it is. In order of precedence:
`implementation` in model-settings (explicit custom code) → `model.pt2` (torch.export) →
`model.pt` (TorchScript) → a Hugging Face directory → a bare `model.py` (custom code).
Every runtime needs one agent capability; a missing one is a load failure that says what was
found and what the agent lacks, the same words the scheduler's capability filter would use.
"""

from __future__ import annotations

from pathlib import Path

from agent.runtimes.base import ModelSettings, Runtime, RuntimeFailure
from agent.runtimes.device import choose_device
from agent.runtimes.exported import ExportedRuntime
from agent.runtimes.huggingface import HuggingFaceRuntime, is_huggingface_dir
from agent.runtimes.python_model import PythonRuntime, has_python_model
from agent.runtimes.settings import load_settings
from agent.runtimes.torchscript import TorchScriptRuntime

_EXPECTED = (
    "model.pt2 (torch.export), model.pt (TorchScript), config.json with model.safetensors or "
    "pytorch_model.bin (Hugging Face), model.py or implementation in model-settings.yaml (Python)"
)


def select_runtime(model_dir: Path, capabilities: frozenset[str]) -> type[Runtime]:
    """The runtime class for `model_dir`, or RuntimeFailure naming what is found and missing."""
    return _select(model_dir, load_settings(model_dir), capabilities)


def create_runtime(
    name: str, model_dir: Path, capabilities: frozenset[str], device_preference: str = "auto"
) -> Runtime:
    """A runtime ready for `load()`: settings read, runtime chosen, device resolved.

    `device_preference` is the agent's (auto, cpu, cuda, cuda:N); the model's own `device`
    setting wins where it says cpu or cuda. Custom Python code gets a GPU only when its
    settings ask for one, since nothing says it would use it.
    """
    settings = load_settings(model_dir)
    runtime_cls = _select(model_dir, settings, capabilities)
    if runtime_cls is PythonRuntime and settings.device == "auto":
        device = "cpu"
    else:
        device = choose_device(settings.device, device_preference)
    return runtime_cls(name, model_dir, settings, device)


def _select(
    model_dir: Path, settings: ModelSettings, capabilities: frozenset[str]
) -> type[Runtime]:
    if not model_dir.is_dir():
        raise RuntimeFailure(f"model directory {model_dir} does not exist")
    found, runtime_cls = _recognise(model_dir, settings)
    if runtime_cls is None:
        listing = ", ".join(sorted(p.name for p in model_dir.iterdir())[:20]) or "nothing"
        raise RuntimeFailure(
            f"no runtime recognises {model_dir}: it holds {listing}; expected {_EXPECTED}"
        )
    if runtime_cls.capability not in capabilities:
        have = ", ".join(sorted(capabilities)) or "none"
        raise RuntimeFailure(
            f"found {found}, which needs capability {runtime_cls.capability!r}; "
            f"this agent has: {have}"
        )
    return runtime_cls


def _recognise(model_dir: Path, settings: ModelSettings) -> tuple[str, type[Runtime] | None]:
    if settings.implementation:
        return f"implementation {settings.implementation}", PythonRuntime
    if (model_dir / "model.pt2").is_file():
        return "model.pt2 (torch.export)", ExportedRuntime
    if (model_dir / "model.pt").is_file():
        return "model.pt (TorchScript)", TorchScriptRuntime
    if is_huggingface_dir(model_dir):
        return "a Hugging Face model (config.json and weights)", HuggingFaceRuntime
    if has_python_model(model_dir):
        return "model.py (custom Python)", PythonRuntime
    return "", None
