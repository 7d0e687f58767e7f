"""Custom Python models: a class in a file beside the model, named by `implementation`.

The model directory holds the code (`implementation: module:Class`, default `model:Model` for a
`model.py`). The class is built with no arguments (its file can find its own directory with
`Path(__file__).parent`) and offers:

* `load(self) -> None` (optional): read weights, warm up;
* `predict(self, inputs: dict[str, np.ndarray], parameters: dict) -> dict[str, np.ndarray]`;
* `predict_stream(self, inputs, parameters)` (optional): yields such dicts, one per part.

This runs arbitrary code from the model directory, so it needs the agent capability "python",
which an operator grants deliberately. Each model's module gets a unique name and is loaded from
its file, so two models that both ship a `model.py` never see each other's module.
Datatypes cannot be guessed from Python values (BF16 vs UINT16, BYTES vs str), so the signature
must be declared in model-settings.yaml.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from agent.runtimes.base import LoadTimings, Runtime, RuntimeFailure, Signature
from agent.runtimes.validate import check_inputs, merged_parameters
from loadmaster.oip.datatypes import NUMPY_DTYPE, DataType, datatype_of
from loadmaster.oip.errors import InferenceFailed, OIPError
from loadmaster.oip.types import Parameters, Tensor, TensorSpec

DEFAULT_FILE = "model.py"
DEFAULT_IMPLEMENTATION = "model:Model"


class PythonRuntime(Runtime):
    platform = "python"
    capability = "python"

    _model: Any = None
    _module_name: str = ""

    def load(self) -> LoadTimings:
        if not self.settings.inputs or not self.settings.outputs:
            raise RuntimeFailure(
                f"model {self.name!r}: a custom Python model must declare inputs and outputs "
                "in model-settings.yaml"
            )
        started = time.perf_counter()
        implementation = self.settings.implementation or DEFAULT_IMPLEMENTATION
        module_path, class_name = implementation.split(":")
        module = self._import(module_path)
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            raise RuntimeFailure(f"model {self.name!r}: {implementation} names no class")
        try:
            model = cls()
            if callable(getattr(model, "load", None)):
                model.load()
        except Exception as exc:
            raise RuntimeFailure(
                f"model {self.name!r}: {class_name} failed to load: {exc}"
            ) from exc
        if not callable(getattr(model, "predict", None)):
            raise RuntimeFailure(f"model {self.name!r}: {class_name} has no predict method")
        self._model = model
        return LoadTimings(time.perf_counter() - started, 0.0, 0.0)

    def _import(self, module_path: str) -> ModuleType:
        """Import `module_path` from the model dir under a name no other model can share."""
        root = self.model_dir.resolve()
        file = root.joinpath(*module_path.split(".")).with_suffix(".py")
        if not file.is_file() or not file.resolve().is_relative_to(root):
            raise RuntimeFailure(f"model {self.name!r}: {file.name} not found in the model dir")
        unique = f"loadmaster_model_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(unique, file)
        if spec is None or spec.loader is None:
            raise RuntimeFailure(f"model {self.name!r}: cannot import {file.name}")
        module = importlib.util.module_from_spec(spec)
        # Registered under its unique name while it lives: dataclasses and pickle look it up.
        sys.modules[unique] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[unique]
            raise RuntimeFailure(
                f"model {self.name!r}: importing {file.name} failed: {exc}"
            ) from exc
        self._module_name = unique
        return module

    def signature(self) -> Signature:
        return Signature(inputs=self.settings.inputs, outputs=self.settings.outputs)

    def predict(self, inputs: Sequence[Tensor], parameters: Parameters) -> list[Tensor]:
        arrays, options = self._arguments(inputs, parameters)
        try:
            result = self._model.predict(arrays, options)
        except OIPError:
            raise
        except Exception as exc:
            raise InferenceFailed(f"model {self.name!r} failed: {_message(exc)}") from exc
        return self._tensors(result)

    def predict_stream(
        self, inputs: Sequence[Tensor], parameters: Parameters
    ) -> Iterator[list[Tensor]]:
        """Validates at once (a bad request fails before the first part), then streams."""
        if not callable(getattr(self._model, "predict_stream", None)):
            return iter([self.predict(inputs, parameters)])
        arrays, options = self._arguments(inputs, parameters)
        return self._stream(arrays, options)

    def _stream(
        self, arrays: dict[str, np.ndarray], options: dict[str, Any]
    ) -> Iterator[list[Tensor]]:
        try:
            for part in self._model.predict_stream(arrays, options):
                yield self._tensors(part)
        except OIPError:
            raise
        except Exception as exc:
            raise InferenceFailed(f"model {self.name!r} failed: {_message(exc)}") from exc

    def _arguments(
        self, inputs: Sequence[Tensor], parameters: Parameters
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self._model is None:
            raise RuntimeFailure(f"model {self.name!r} is not loaded")
        named = check_inputs(self.name, inputs, self.settings.inputs)
        arrays = {name: tensor.data for name, tensor in named.items()}
        return arrays, merged_parameters(self.settings.parameters, parameters)

    def _tensors(self, result: object) -> list[Tensor]:
        """Declared outputs first, in settings order; undeclared ones keep numpy's datatype."""
        if not isinstance(result, Mapping):
            raise InferenceFailed(
                f"model {self.name!r} returned {type(result).__name__}, not a dict of arrays"
            )
        declared = {spec.name: spec for spec in self.settings.outputs}
        names = [n for n in declared if n in result] + [str(n) for n in result if n not in declared]
        return [_tensor(name, result[name], declared.get(name)) for name in names]

    def unload(self) -> None:
        self._model = None
        if self._module_name:
            sys.modules.pop(self._module_name, None)
            self._module_name = ""


def has_python_model(model_dir: Path) -> bool:
    return (model_dir / DEFAULT_FILE).is_file()


def _tensor(name: str, value: object, spec: TensorSpec | None) -> Tensor:
    try:
        datatype = spec.datatype if spec else datatype_of(np.asarray(value))
        if datatype is DataType.BYTES:
            array = np.asarray(value, dtype=object)
            array = np.vectorize(_to_bytes, otypes=[object])(array) if array.size else array
        else:
            array = np.asarray(value, dtype=NUMPY_DTYPE[datatype])
    except (TypeError, ValueError) as exc:
        raise InferenceFailed(f"output {name!r}: {exc}") from None
    return Tensor(name=name, datatype=datatype, shape=tuple(array.shape), data=array)


def _to_bytes(item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    raise TypeError(f"BYTES elements must be bytes or str, got {type(item).__name__}")


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
