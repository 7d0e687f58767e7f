"""TorchScript models (`model.pt`), with a signature that can travel inside the archive.

A TorchScript archive records no tensor names or shapes that a server could show its clients,
so the saver may embed one as the extra file `loadmaster-signature.json` (the same
`{inputs, outputs}` layout as model-settings). `save_torchscript` writes it and the runtime
reads it back; keeping both here keeps the format in one place. model-settings still wins.

TorchScript archives are not Python pickles: torch reads them with its own restricted
unpickler, so loading one runs no Python code from the file.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from agent.runtimes.base import RuntimeFailure, Signature
from agent.runtimes.settings import parse_tensor_specs, specs_to_json
from agent.runtimes.torch_module import TorchCallable, TorchModuleRuntime

ARTIFACT = "model.pt"
SIGNATURE_FILE = "loadmaster-signature.json"


class TorchScriptRuntime(TorchModuleRuntime):
    platform = "pytorch_torchscript"

    def _deserialize(self) -> tuple[TorchCallable, Signature | None]:
        path = self.model_dir / ARTIFACT
        extra = {SIGNATURE_FILE: ""}
        try:
            with warnings.catch_warnings():
                # torch 2.13 marks TorchScript deprecated; serving existing archives is the point.
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(  # type: ignore[no-untyped-call]
                    str(path), map_location=self.device, _extra_files=extra
                )
        except Exception as exc:
            raise RuntimeFailure(f"model {self.name!r}: cannot load {ARTIFACT}: {exc}") from exc
        module.eval()
        return module, parse_embedded_signature(extra[SIGNATURE_FILE])


def parse_embedded_signature(raw: str | bytes) -> Signature | None:
    """The signature embedded at save time, None when there is none, RuntimeFailure if bad."""
    if not raw:
        return None
    where = f"{ARTIFACT}: embedded {SIGNATURE_FILE}"
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RuntimeFailure(f"{where} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RuntimeFailure(f"{where} must be an object with inputs and outputs")
    return Signature(
        inputs=parse_tensor_specs(document.get("inputs", []), f"{where}: inputs"),
        outputs=parse_tensor_specs(document.get("outputs", []), f"{where}: outputs"),
    )


def save_torchscript(module: torch.nn.Module, path: Path, signature: Signature) -> None:
    """Script `module` and save it to `path` with `signature` embedded (for model builders)."""
    document = {
        "inputs": specs_to_json(signature.inputs),
        "outputs": specs_to_json(signature.outputs),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(module.eval())
        torch.jit.save(scripted, str(path), _extra_files={SIGNATURE_FILE: json.dumps(document)})
