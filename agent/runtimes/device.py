"""Which torch device a model runs on, and how much GPU memory this worker holds.

Two wishes meet here: the model's (`device` in model-settings: auto, cpu, cuda) and the
agent's (its configured preference: auto, cpu, cuda or a pinned cuda:N). A model that says
`cpu` or `cuda` gets exactly that or a load failure with the reason; a model that says `auto`
follows the agent. Among several GPUs the one with the most free memory wins, because every
worker holds a full copy of the model and the scheduler has already counted on the room.
"""

from __future__ import annotations

import re

import torch

from agent.runtimes.base import RuntimeFailure

NO_GPU = "model needs a GPU but this agent has none"
_PINNED = re.compile(r"^cuda:(\d+)$")


def cuda_available() -> bool:
    """True when this process can use at least one CUDA device."""
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def choose_device(model_device: str, agent_preference: str = "auto") -> str:
    """A torch device string ("cpu", "cuda:0", ...) or RuntimeFailure saying why none fits.

    `model_device` comes from model-settings; `agent_preference` from the agent's own config.
    """
    if model_device not in ("auto", "cpu", "cuda"):
        raise RuntimeFailure(f"unknown model device {model_device!r}; expected auto, cpu, cuda")
    if model_device == "cpu":
        return "cpu"
    if model_device == "cuda":
        if agent_preference == "cpu" or not cuda_available():
            raise RuntimeFailure(NO_GPU)
        return _gpu(agent_preference)
    if agent_preference == "cpu":
        return "cpu"
    if agent_preference == "auto":
        return _gpu("auto") if cuda_available() else "cpu"
    if not cuda_available():
        raise RuntimeFailure(f"agent prefers {agent_preference} but no CUDA device is available")
    return _gpu(agent_preference)


def cuda_memory_allocated(device: str) -> int:
    """Bytes of GPU memory this process has allocated on `device`; 0 for the CPU."""
    if not device.startswith("cuda") or not cuda_available():
        return 0
    return int(torch.cuda.memory_allocated(torch.device(device)))


def release_cuda_cache(device: str) -> None:
    """Give cached blocks back to the driver after an unload, so the memory truth drops."""
    if device.startswith("cuda") and cuda_available():
        with torch.cuda.device(torch.device(device)):
            torch.cuda.empty_cache()


def _gpu(preference: str) -> str:
    if preference in ("auto", "cuda"):
        return most_free_gpu()
    pinned = _PINNED.match(preference)
    if pinned is None:
        raise RuntimeFailure(
            f"unknown agent device preference {preference!r}; expected auto, cpu, cuda, cuda:N"
        )
    index = int(pinned.group(1))
    count = torch.cuda.device_count()
    if index >= count:
        raise RuntimeFailure(f"agent pins {preference} but only {count} CUDA device(s) exist")
    return preference


def most_free_gpu() -> str:
    """The CUDA device with the most free memory right now (ties go to the lowest index)."""
    best_index, best_free = 0, -1
    for index in range(torch.cuda.device_count()):
        free, _total = torch.cuda.mem_get_info(index)
        if free > best_free:
            best_index, best_free = index, free
    return f"cuda:{best_index}"
