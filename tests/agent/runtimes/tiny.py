"""Tiny torch modules and tensor helpers shared by the runtime tests."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from loadmaster.oip.datatypes import NUMPY_DTYPE, DataType
from loadmaster.oip.types import Tensor, TensorSpec


class Scale(torch.nn.Module):
    """y = x * factor + bias, in the input's own dtype: shows values survive the round trip."""

    def __init__(self, factor: float, bias: float) -> None:
        super().__init__()
        self.factor = factor
        self.bias = bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor + self.bias


class TwoHeads(torch.nn.Module):
    """Two inputs, a dict of two outputs: checks positional order and output naming."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"difference": a - b, "total": a + b}


class Fails(torch.nn.Module):
    """Raises its own error on more than two rows: a model crashing on well-formed input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 2:
            raise ValueError("too many rows for this model")
        return x


class Payload:
    """Unpickling this creates `marker`: proof that code from a model file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def tensor(name: str, values: Any, datatype: DataType = DataType.FP32) -> Tensor:
    """An OIP tensor as the codec would build it (read-only, like np.frombuffer gives)."""
    if datatype is DataType.BYTES:
        data = np.array(values, dtype=object)
    else:
        data = np.array(values, dtype=NUMPY_DTYPE[datatype])
        data.setflags(write=False)
    return Tensor(name=name, datatype=datatype, shape=tuple(data.shape), data=data)


def spec(name: str, datatype: DataType, *shape: int) -> TensorSpec:
    return TensorSpec(name=name, datatype=datatype, shape=tuple(shape))


def write_settings(model_dir: Path, document: dict[str, Any]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model-settings.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")


def script_plain(module: torch.nn.Module, model_dir: Path) -> Path:
    """Save TorchScript without an embedded signature (as most archives in the wild are)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module.eval()), str(model_dir / "model.pt"))
    return model_dir


HF_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "the", "is"]
HF_LABELS = {0: "negative", 1: "positive"}


def build_bert(model_dir: Path, tokenizer: bool) -> Path:
    """A tiny random BertForSequenceClassification saved with `save_pretrained`."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(7)  # a seed whose random classifier tells the test texts apart
    config = BertConfig(
        vocab_size=len(HF_VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        initializer_range=0.5,
        id2label=HF_LABELS,
        label2id={v: k for k, v in HF_LABELS.items()},
    )
    BertForSequenceClassification(config).save_pretrained(str(model_dir))
    if tokenizer:
        vocab = model_dir.parent / f"{model_dir.name}-vocab.txt"
        vocab.write_text("\n".join(HF_VOCAB) + "\n", encoding="utf-8")
        BertTokenizer(vocab=str(vocab)).save_pretrained(str(model_dir))
    return model_dir
