"""Hugging Face sequence classifiers: a `save_pretrained` directory served as-is.

With tokenizer files beside the weights the model takes raw text (`text`, BYTES [-1], UTF-8),
so clients need no tokenizer of their own; without them it takes `input_ids` (and optionally
`attention_mask`). It answers `label` (class ids, or names from `config.id2label` when
`return_labels` is set) and, on request, `probabilities` (softmax over the logits).

Nothing is fetched: `local_files_only=True`. Nothing is unpickled unsafely: `weights_only=True`
for `pytorch_model.bin`, and `trust_remote_code=False` so a config cannot pull in Python code.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent.runtimes.base import LoadTimings, Runtime, RuntimeFailure, Signature
from agent.runtimes.device import release_cuda_cache
from agent.runtimes.torch_module import model_message, zero_tensor
from agent.runtimes.torch_tensors import from_torch, to_torch
from agent.runtimes.validate import check_inputs, flag, merged_parameters
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.errors import BadRequest, InferenceFailed, OIPError
from loadmaster.oip.types import Parameters, Tensor, TensorSpec

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json")
_SAFE = {"local_files_only": True, "trust_remote_code": False}


def is_huggingface_dir(model_dir: Path) -> bool:
    """A config plus weights: what `save_pretrained` writes."""
    return (model_dir / "config.json").is_file() and any(
        (model_dir / name).is_file() for name in WEIGHT_FILES
    )


class HuggingFaceRuntime(Runtime):
    platform = "huggingface_sequence_classification"
    capability = "huggingface"

    _model: Any = None
    _tokenizer: Any = None
    _signature: Signature | None = None

    def load(self) -> LoadTimings:
        started = time.perf_counter()
        import transformers

        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
                str(self.model_dir), weights_only=True, output_loading_info=True, **_SAFE
            )
            if any((self.model_dir / name).is_file() for name in TOKENIZER_FILES):
                self._tokenizer = transformers.AutoTokenizer.from_pretrained(
                    str(self.model_dir), **_SAFE
                )
        except Exception as exc:
            raise RuntimeFailure(
                f"model {self.name!r}: cannot load from {self.model_dir}: {exc}"
            ) from exc
        missing = sorted(info.get("missing_keys", ()))
        if missing:
            # transformers would fill these with random numbers and serve nonsense.
            raise RuntimeFailure(
                f"model {self.name!r}: not a trained sequence classifier, the weights lack "
                f"{', '.join(missing[:5])}"
            )
        deserialized = time.perf_counter()
        self._model = model.to(self.device).eval()
        if torch.device(self.device).type == "cuda":
            torch.cuda.synchronize(torch.device(self.device))
        moved = time.perf_counter()
        self._signature = self._build_signature()
        example = [zero_tensor(spec) for spec in self._signature.inputs[:1]]
        try:
            self.predict(example, {})
        except OIPError as exc:
            raise RuntimeFailure(f"model {self.name!r}: warm-up failed: {exc}") from exc
        return LoadTimings(
            deserialize_s=deserialized - started,
            to_device_s=moved - deserialized,
            warmup_s=time.perf_counter() - moved,
        )

    def signature(self) -> Signature:
        if self._signature is None:
            raise RuntimeFailure(f"model {self.name!r} is not loaded")
        return self._signature

    def _build_signature(self) -> Signature:
        """Inputs follow the tokenizer's presence; `label`'s type follows the model default."""
        if self._tokenizer is not None:
            inputs: tuple[TensorSpec, ...] = (TensorSpec("text", DataType.BYTES, (-1,)),)
        else:
            inputs = (
                TensorSpec("input_ids", DataType.INT64, (-1, -1)),
                TensorSpec("attention_mask", DataType.INT64, (-1, -1)),
            )
        try:
            names = flag(self.settings.parameters, "return_labels")
        except BadRequest as exc:
            raise RuntimeFailure(f"model-settings.yaml: parameters: {exc}") from None
        label = DataType.BYTES if names else DataType.INT64
        num_labels = int(self._model.config.num_labels)
        outputs = (
            TensorSpec("label", label, (-1,)),
            TensorSpec("probabilities", DataType.FP32, (-1, num_labels)),
        )
        return Signature(inputs=inputs, outputs=outputs)

    def predict(self, inputs: Sequence[Tensor], parameters: Parameters) -> list[Tensor]:
        signature = self.signature()
        options = merged_parameters(self.settings.parameters, parameters)
        want_names = flag(options, "return_labels")
        want_probs = flag(options, "return_probabilities")
        named = check_inputs(self.name, inputs, signature.inputs, optional=("attention_mask",))
        rows = next(iter(named.values())).shape[0]
        if rows == 0:
            return self._empty(want_names, want_probs)
        try:
            features = self._features(named)
            with torch.inference_mode():
                logits = self._model(**features).logits
                probabilities = torch.softmax(logits.float(), dim=-1)
                ids = probabilities.argmax(dim=-1)
            outputs = [self._labels(ids) if want_names else from_torch("label", ids)]
            if want_probs:
                outputs.append(from_torch("probabilities", probabilities))
            return outputs
        except OIPError:
            raise
        except Exception as exc:
            raise InferenceFailed(f"model {self.name!r} failed: {model_message(exc)}") from exc

    def _empty(self, want_names: bool, want_probs: bool) -> list[Tensor]:
        """An empty batch answers empty tensors without calling a tokenizer that would fail."""
        labels = np.empty((0,), dtype=object if want_names else np.int64)
        label_type = DataType.BYTES if want_names else DataType.INT64
        outputs = [Tensor("label", label_type, (0,), labels)]
        if want_probs:
            width = int(self._model.config.num_labels)
            probs = np.empty((0, width), dtype=np.float32)
            outputs.append(Tensor("probabilities", DataType.FP32, (0, width), probs))
        return outputs

    def _features(self, named: dict[str, Tensor]) -> dict[str, torch.Tensor]:
        if self._tokenizer is None:
            return {name: to_torch(tensor, self.device) for name, tensor in named.items()}
        texts = [_text(item) for item in named["text"].data.ravel()]
        limit = min(
            int(self._tokenizer.model_max_length),
            int(getattr(self._model.config, "max_position_embeddings", 512)),
        )
        encoded = self._tokenizer(
            texts, padding=True, truncation=True, max_length=limit, return_tensors="pt"
        )
        return {key: value.to(self.device) for key, value in encoded.items()}

    def _labels(self, ids: torch.Tensor) -> Tensor:
        id2label = self._model.config.id2label
        host = ids.detach().cpu().tolist()
        names = [str(id2label.get(i, i)).encode("utf-8") for i in host]
        data = np.array(names, dtype=object).reshape(len(names))
        return Tensor(name="label", datatype=DataType.BYTES, shape=data.shape, data=data)

    def unload(self) -> None:
        self._model = None
        self._tokenizer = None
        gc.collect()
        release_cuda_cache(self.device)


def _text(item: object) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, bytes | bytearray | memoryview):
        try:
            return bytes(item).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("input 'text' must be UTF-8") from None
    raise BadRequest(f"input 'text' elements must be bytes, got {type(item).__name__}")
