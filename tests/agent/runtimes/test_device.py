"""Device choice (model wish x agent preference x GPUs present) and tensor conversion."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from agent.runtimes.base import RuntimeFailure
from agent.runtimes.device import choose_device, cuda_memory_allocated, most_free_gpu
from agent.runtimes.torch_tensors import from_torch, to_torch
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.errors import BadRequest
from tests.agent.runtimes.tiny import tensor

# (model device, agent preference, GPUs (free bytes each), expected device or error fragment)
CHOICES: list[tuple[str, str, list[int], str]] = [
    ("cpu", "auto", [8], "cpu"),
    ("cpu", "cuda", [8], "cpu"),
    ("auto", "auto", [], "cpu"),
    ("auto", "auto", [2, 9, 4], "cuda:1"),
    ("auto", "cpu", [8], "cpu"),
    ("auto", "cuda:2", [1, 1, 1], "cuda:2"),
    ("auto", "cuda:3", [1, 1, 1], "only 3 CUDA device(s)"),
    ("auto", "cuda", [], "no CUDA device is available"),
    ("cuda", "auto", [5, 5], "cuda:0"),
    ("cuda", "auto", [], "model needs a GPU but this agent has none"),
    ("cuda", "cpu", [8], "model needs a GPU but this agent has none"),
    ("auto", "tpu", [8], "unknown agent device preference 'tpu'"),
]


@pytest.mark.parametrize(("model", "agent", "gpus", "expected"), CHOICES)
def test_choose_device(
    monkeypatch: pytest.MonkeyPatch, model: str, agent: str, gpus: list[int], expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: bool(gpus))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(gpus))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (gpus[index], 10))
    if expected == "cpu" or expected.startswith("cuda:"):
        assert choose_device(model, agent) == expected
    else:
        with pytest.raises(RuntimeFailure, match=expected.replace("(", r"\(").replace(")", r"\)")):
            choose_device(model, agent)


def test_memory_on_cpu_is_zero() -> None:
    assert cuda_memory_allocated("cpu") == 0


def test_most_free_gpu_prefers_lowest_index_on_ties(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (7, 10))
    assert most_free_gpu() == "cuda:0"


def test_read_only_input_converts_without_warning_and_stays_intact() -> None:
    source = tensor("x", [1.0, 2.0])
    assert not source.data.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converted = to_torch(source, "cpu")
    converted.add_(1)  # a model writing into its input must not reach the request buffer
    assert source.data.tolist() == [1.0, 2.0]


def test_bf16_keeps_its_bits_both_ways() -> None:
    bits = np.array([0x3FC0, 0xC0B0, 0x7F80], dtype="<u2")  # 1.5, -5.5, +inf
    value = to_torch(tensor("x", bits, DataType.BF16), "cpu")
    assert value.dtype == torch.bfloat16
    assert value.float().tolist() == [1.5, -5.5, float("inf")]
    back = from_torch("y", value)
    assert (back.datatype, back.data.dtype.str, back.data.tolist()) == (
        DataType.BF16,
        "<u2",
        bits.tolist(),
    )


def test_bytes_cannot_go_to_torch() -> None:
    with pytest.raises(BadRequest, match="BYTES cannot be passed"):
        to_torch(tensor("x", [b"a"], DataType.BYTES), "cpu")
