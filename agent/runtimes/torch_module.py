"""What the TorchScript and torch.export runtimes share: load phases, warm-up, predict.

Both hold a callable torch module whose inputs are positional tensors. They differ only in how
the artifact is deserialized and where the signature comes from, so subclasses implement
`_deserialize` and everything else (validation, device moves, output naming, error mapping)
lives here once.
"""

from __future__ import annotations

import abc
import gc
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from agent.runtimes.base import LoadTimings, Runtime, RuntimeFailure, Signature
from agent.runtimes.device import release_cuda_cache
from agent.runtimes.torch_tensors import from_torch, to_torch
from agent.runtimes.validate import check_inputs
from loadmaster.oip.datatypes import NUMPY_DTYPE, DataType
from loadmaster.oip.errors import InferenceFailed, OIPError
from loadmaster.oip.types import Parameters, Tensor, TensorSpec

log = logging.getLogger(__name__)

TorchCallable = Callable[..., Any]
_TS_FAILURE = "The following operation failed in the TorchScript interpreter"


class TorchModuleRuntime(Runtime):
    """A torch module called with the signature's inputs, positionally, in signature order."""

    capability = "torch"

    _module: TorchCallable | None = None
    _signature: Signature | None = None

    @abc.abstractmethod
    def _deserialize(self) -> tuple[TorchCallable, Signature | None]:
        """The module (on `self.device` or movable there) and the signature the artifact holds."""

    def _to_device(self, module: TorchCallable) -> TorchCallable:
        """Move the module to `self.device`; a no-op where deserializing already placed it."""
        return module

    def load(self) -> LoadTimings:
        started = time.perf_counter()
        module, found = self._deserialize()
        deserialized = time.perf_counter()
        module = self._to_device(module)
        _synchronize(self.device)
        moved = time.perf_counter()
        self._module = module
        self._signature = self._choose_signature(found)
        self._warm_up(declared=found is not None or bool(self.settings.inputs))
        warmed = time.perf_counter()
        return LoadTimings(
            deserialize_s=deserialized - started,
            to_device_s=moved - deserialized,
            warmup_s=warmed - moved,
        )

    def signature(self) -> Signature:
        if self._signature is None:
            raise RuntimeFailure(f"model {self.name!r} is not loaded")
        return self._signature

    def predict(self, inputs: Sequence[Tensor], parameters: Parameters) -> list[Tensor]:
        signature = self.signature()
        module = self._module
        if module is None:
            raise RuntimeFailure(f"model {self.name!r} is not loaded")
        named = check_inputs(self.name, inputs, signature.inputs)
        try:
            args = [to_torch(tensor, self.device) for tensor in named.values()]
            with torch.inference_mode():
                result = module(*args)
            # Inside the try: CUDA reports a kernel's failure at the copy back to the host.
            return name_outputs(result, signature.outputs)
        except OIPError:
            raise
        except Exception as exc:
            raise InferenceFailed(f"model {self.name!r} failed: {model_message(exc)}") from exc

    def unload(self) -> None:
        self._module = None
        gc.collect()
        release_cuda_cache(self.device)

    def _choose_signature(self, found: Signature | None) -> Signature:
        """Settings win over the artifact, per side; defaults fill what neither declares."""
        default = default_signature()
        inputs = self.settings.inputs or (found.inputs if found else ()) or default.inputs
        outputs = self.settings.outputs or (found.outputs if found else ()) or default.outputs
        return Signature(inputs=inputs, outputs=outputs)

    def _warm_up(self, declared: bool) -> None:
        """One predict on zeros, so the first client does not pay for lazy initialisation.

        With a declared signature a failure means the signature is wrong: the load fails. With
        the guessed default signature the guess, not the model, may be at fault: log and go on.
        """
        example = [zero_tensor(spec) for spec in self.signature().inputs]
        try:
            self.predict(example, {})
        except (OIPError, RuntimeFailure) as exc:
            if declared:
                raise RuntimeFailure(
                    f"model {self.name!r}: warm-up with zeros shaped as the signature failed: {exc}"
                ) from exc
            log.warning(
                "model %r: warm-up skipped, default signature did not fit: %s", self.name, exc
            )
        _synchronize(self.device)


def default_signature() -> Signature:
    """What a model that declares nothing is assumed to take and give."""
    return Signature(
        inputs=(TensorSpec("input-0", DataType.FP32, (-1, -1)),),
        outputs=(TensorSpec("output-0", DataType.FP32, (-1, -1)),),
    )


def zero_tensor(spec: TensorSpec) -> Tensor:
    """Zeros (empty bytes for BYTES) shaped as the spec, each any-size dimension set to 1."""
    shape = tuple(1 if dim == -1 else dim for dim in spec.shape)
    if spec.datatype is DataType.BYTES:
        data = np.full(shape, b"", dtype=object)
    else:
        data = np.zeros(shape, dtype=NUMPY_DTYPE[spec.datatype])
    return Tensor(name=spec.name, datatype=spec.datatype, shape=shape, data=data)


def name_outputs(result: object, specs: Sequence[TensorSpec]) -> list[Tensor]:
    """Host tensors from what a module returned: a tensor, a tuple/list, or a dict of tensors.

    Positions take the signature's names in order (`output-N` past its end); dict keys are the
    names, in signature order first. The datatype is the tensor's own, which is the truth.
    """
    if isinstance(result, torch.Tensor):
        return [from_torch(_position_name(specs, 0), result)]
    if isinstance(result, tuple | list):
        return [from_torch(_position_name(specs, i), _tensor(v, i)) for i, v in enumerate(result)]
    if isinstance(result, Mapping):
        declared = [s.name for s in specs if s.name in result]
        rest = [str(k) for k in result if k not in declared]
        return [from_torch(key, _tensor(result[key], key)) for key in declared + rest]
    raise InferenceFailed(
        f"model returned {type(result).__name__}; expected a tensor, a tuple or a dict of tensors"
    )


def model_message(exc: BaseException) -> str:
    """The model's own words: TorchScript wraps them under a traceback, keep the last line."""
    text = str(exc).strip()
    if text.startswith(_TS_FAILURE):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1].removeprefix("builtins.")
    return text or type(exc).__name__


def _position_name(specs: Sequence[TensorSpec], index: int) -> str:
    return specs[index].name if index < len(specs) else f"output-{index}"


def _tensor(value: object, where: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise InferenceFailed(f"model output {where!r} is {type(value).__name__}, not a tensor")
    return value


def _synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(torch.device(device))
