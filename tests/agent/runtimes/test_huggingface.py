"""Hugging Face sequence classifier: text in, labels and probabilities out, nothing unsafe."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.runtimes.base import ModelSettings, RuntimeFailure
from agent.runtimes.huggingface import HuggingFaceRuntime
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.types import ParamValue, Tensor
from tests.agent.runtimes.tiny import Payload, spec, tensor

TEXTS = [b"good movie", b"the movie is bad bad bad", b"movie"]


def loaded(model_dir: Path, parameters: dict[str, ParamValue] | None = None) -> HuggingFaceRuntime:
    runtime = HuggingFaceRuntime(
        "bert", model_dir, ModelSettings(parameters=parameters or {}), "cpu"
    )
    runtime.load()
    return runtime


def reference(model_dir: Path, texts: list[bytes]) -> torch.Tensor:
    """Probabilities computed with transformers directly, as a user would."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model: Any = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
    tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir))
    encoded = tokenizer([t.decode() for t in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        return torch.softmax(model.eval()(**encoded).logits, dim=-1)


def by_name(outputs: list[Tensor]) -> dict[str, Tensor]:
    return {o.name: o for o in outputs}


@pytest.fixture
def bert(hf_dir: Path) -> Path:
    return hf_dir


def test_signature_with_tokenizer(bert: Path) -> None:
    signature = loaded(bert).signature()
    assert signature.inputs == (spec("text", DataType.BYTES, -1),)
    assert signature.outputs == (
        spec("label", DataType.INT64, -1),
        spec("probabilities", DataType.FP32, -1, 2),
    )


def test_label_ids_by_default(bert: Path) -> None:
    outputs = loaded(bert).predict([tensor("text", TEXTS, DataType.BYTES)], {})
    assert [o.name for o in outputs] == ["label"]
    expected = reference(bert, TEXTS).argmax(dim=-1).tolist()
    assert (outputs[0].datatype, outputs[0].data.tolist()) == (DataType.INT64, expected)
    assert len(set(expected)) == 2, "fixture should produce both classes"


def test_labels_and_probabilities_by_request(bert: Path) -> None:
    runtime = loaded(bert)
    request: dict[str, ParamValue] = {"return_labels": True, "return_probabilities": "true"}
    outputs = by_name(runtime.predict([tensor("text", TEXTS, DataType.BYTES)], request))
    probabilities = reference(bert, TEXTS)
    names = [{0: b"negative", 1: b"positive"}[i] for i in probabilities.argmax(dim=-1).tolist()]
    assert (outputs["label"].datatype, outputs["label"].data.tolist()) == (DataType.BYTES, names)
    assert outputs["probabilities"].shape == (3, 2)
    np.testing.assert_allclose(outputs["probabilities"].data, probabilities.numpy(), rtol=1e-5)


def test_labels_by_model_default_and_request_can_turn_them_off(bert: Path) -> None:
    runtime = loaded(bert, {"return_labels": True})
    assert runtime.signature().outputs[0] == spec("label", DataType.BYTES, -1)
    [named] = runtime.predict([tensor("text", TEXTS[:1], DataType.BYTES)], {})
    assert named.datatype is DataType.BYTES
    [ids] = runtime.predict([tensor("text", TEXTS[:1], DataType.BYTES)], {"return_labels": False})
    assert ids.datatype is DataType.INT64


def test_input_ids_without_tokenizer(hf_dir_no_tokenizer: Path) -> None:
    runtime = loaded(hf_dir_no_tokenizer)
    assert [s.name for s in runtime.signature().inputs] == ["input_ids", "attention_mask"]
    ids = tensor("input_ids", [[2, 5, 7, 3], [2, 6, 0, 0]], DataType.INT64)
    mask = tensor("attention_mask", [[1, 1, 1, 1], [1, 1, 0, 0]], DataType.INT64)
    [with_mask] = runtime.predict([ids, mask], {"return_probabilities": True})[1:]
    [without] = runtime.predict([ids], {"return_probabilities": True})[1:]
    assert with_mask.shape == without.shape == (2, 2)
    assert not np.allclose(with_mask.data[1], without.data[1]), "mask must reach the model"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([tensor("text", [[b"a"]], DataType.BYTES)], "must have rank 1"),
        ([tensor("input_ids", [[1]], DataType.INT64)], "has no input 'input_ids'"),
        ([tensor("text", [b"\xff\xfe"], DataType.BYTES)], "must be UTF-8"),
    ],
)
def test_bad_requests(bert: Path, inputs: list[Tensor], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        loaded(bert).predict(inputs, {})


def test_empty_batch_answers_empty(bert: Path) -> None:
    empty = Tensor("text", DataType.BYTES, (0,), np.empty((0,), dtype=object))
    outputs = loaded(bert).predict([empty], {"return_probabilities": True})
    assert [o.shape for o in outputs] == [(0,), (0, 2)]


def test_base_model_without_a_classifier_head_is_refused(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=10,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    BertModel(config).save_pretrained(str(tmp_path))
    with pytest.raises(RuntimeFailure, match=r"lack classifier\.bias, classifier\.weight"):
        loaded(tmp_path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pytorch_model_bin_runs_no_code(bert: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "config.json").write_bytes((bert / "config.json").read_bytes())
    marker = tmp_path / "pwned"
    (evil / "pytorch_model.bin").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(RuntimeFailure, match="cannot load"):
        loaded(evil)
    assert not marker.exists()
    pickle.loads((evil / "pytorch_model.bin").read_bytes())  # the payload is live...
    assert marker.exists()  # ...so only the safe loader kept it from running
