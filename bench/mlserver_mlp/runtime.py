"""`TorchScriptRuntime`: MLServer's side of the data-plane benchmark.

MLServer has no TorchScript runtime of its own, so this is the smallest honest one: load the
very `model.pt` the agent serves with `torch.jit.load`, decode the first input with MLServer's
`NumpyCodec`, run the module under `torch.inference_mode`, encode the result with `NumpyCodec`.
The torch thread count comes from `OMP_NUM_THREADS` (set equal for both servers by the
benchmark) and is applied explicitly, since MLServer's workers are spawned processes.

This module is imported only by MLServer, from `bench/.venv-mlserver`; the project's own venv
has no `mlserver`, which is why the imports below carry `type: ignore`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
from mlserver import MLModel  # type: ignore[import-not-found]
from mlserver.codecs import NumpyCodec  # type: ignore[import-not-found]
from mlserver.types import InferenceRequest, InferenceResponse  # type: ignore[import-not-found]
from mlserver.utils import get_model_uri  # type: ignore[import-not-found]

OUTPUT_NAME = "output"


def configure_threads() -> int:
    """Apply `OMP_NUM_THREADS` to torch's intra-op pool; returns the count in force."""
    wanted = os.environ.get("OMP_NUM_THREADS", "")
    if wanted.isdigit() and int(wanted) > 0:
        torch.set_num_threads(int(wanted))
    return torch.get_num_threads()


class TorchScriptRuntime(MLModel):  # type: ignore[misc]
    """One TorchScript module; input 0 in, a single output named `output` back."""

    _module: Any = None

    async def load(self) -> bool:
        threads = configure_threads()
        uri = await get_model_uri(self.settings, wellknown_filenames=["model.pt"])
        with warnings.catch_warnings():
            # torch 2.13 marks TorchScript deprecated; serving an existing archive is the point.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(uri, map_location="cpu")  # type: ignore[no-untyped-call]
        module.eval()
        self._module = module
        print(f"mlserver_mlp: loaded {uri} with torch {torch.__version__}, {threads} thread(s)")
        self.ready = True
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        array = NumpyCodec.decode_input(payload.inputs[0])
        with torch.inference_mode():
            # Like the agent: wrap a writable array, copy a read-only (frombuffer) one once.
            tensor = torch.from_numpy(array) if array.flags.writeable else torch.tensor(array)
            result = self._module(tensor)
        output = NumpyCodec.encode_output(name=OUTPUT_NAME, payload=result.numpy())
        return InferenceResponse(model_name=self.name, model_version=self.version, outputs=[output])
