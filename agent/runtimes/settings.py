"""Read and validate `model-settings.yaml`, the optional file beside a model artifact.

The file is written by people, so every mistake is reported as a RuntimeFailure that names the
file and the field ("model-settings.yaml: max_batch_size must be an integer >= 1, got 'x'"):
a model with a bad settings file fails to load with a reason, instead of serving with
surprising defaults. Unknown keys are errors too, so a typo (`max_batch_sise`) is not silently
ignored. The tensor-spec parser is shared with signatures embedded in TorchScript archives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from agent.runtimes.base import ModelSettings, RuntimeFailure
from loadmaster.oip.datatypes import parse_datatype
from loadmaster.oip.types import ParamValue, TensorSpec

SETTINGS_FILE = "model-settings.yaml"
DEVICES = ("auto", "cpu", "cuda")

_KEYS = frozenset(
    {
        "inputs",
        "outputs",
        "max_batch_size",
        "max_batch_time_ms",
        "parameters",
        "implementation",
        "device",
    }
)
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_IMPLEMENTATION = re.compile(rf"^{_IDENT}(\.{_IDENT})*:{_IDENT}$")


def load_settings(model_dir: Path) -> ModelSettings:
    """The model's settings; defaults when the directory has no `model-settings.yaml`."""
    path = model_dir / SETTINGS_FILE
    if not path.is_file():
        return ModelSettings()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RuntimeFailure(f"{SETTINGS_FILE}: cannot be read: {exc}") from exc
    return parse_settings(raw)


def parse_settings(raw: object) -> ModelSettings:
    """Validate an already-parsed settings document (None, i.e. an empty file, is allowed)."""
    if raw is None:
        return ModelSettings()
    if not isinstance(raw, Mapping):
        raise _fail("the file must hold a mapping of settings", raw)
    unknown = sorted(str(key) for key in raw if key not in _KEYS)
    if unknown:
        expected = ", ".join(sorted(_KEYS))
        raise RuntimeFailure(f"{SETTINGS_FILE}: unknown key {unknown[0]!r}; expected {expected}")
    return ModelSettings(
        inputs=parse_tensor_specs(raw.get("inputs", []), f"{SETTINGS_FILE}: inputs"),
        outputs=parse_tensor_specs(raw.get("outputs", []), f"{SETTINGS_FILE}: outputs"),
        max_batch_size=_max_batch_size(raw.get("max_batch_size", 1)),
        max_batch_time_ms=_max_batch_time(raw.get("max_batch_time_ms", 0.0)),
        parameters=_parameters(raw.get("parameters", {})),
        implementation=_implementation(raw.get("implementation", "")),
        device=_device(raw.get("device", "auto")),
    )


def parse_tensor_specs(raw: object, where: str) -> tuple[TensorSpec, ...]:
    """A list of `{name, datatype, shape}` mappings; `where` prefixes every error message."""
    if not isinstance(raw, list):
        raise RuntimeFailure(f"{where} must be a list of {{name, datatype, shape}}, got {raw!r}")
    specs: list[TensorSpec] = []
    for index, item in enumerate(raw):
        spec = _tensor_spec(item, f"{where}[{index}]")
        if any(seen.name == spec.name for seen in specs):
            raise RuntimeFailure(f"{where}[{index}]: duplicate tensor name {spec.name!r}")
        specs.append(spec)
    return tuple(specs)


def specs_to_json(specs: Sequence[TensorSpec]) -> list[dict[str, Any]]:
    """The inverse of `parse_tensor_specs`, for writing signatures."""
    return [{"name": s.name, "datatype": s.datatype.value, "shape": list(s.shape)} for s in specs]


def _tensor_spec(item: object, where: str) -> TensorSpec:
    if not isinstance(item, Mapping):
        raise RuntimeFailure(f"{where} must be a mapping with name, datatype, shape, got {item!r}")
    extra = sorted(str(k) for k in item if k not in ("name", "datatype", "shape"))
    if extra:
        raise RuntimeFailure(f"{where}: unknown key {extra[0]!r}; expected name, datatype, shape")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise RuntimeFailure(f"{where}.name must be a non-empty string, got {name!r}")
    datatype = item.get("datatype")
    if not isinstance(datatype, str):
        raise RuntimeFailure(f"{where}.datatype must be a string such as FP32, got {datatype!r}")
    try:
        parsed = parse_datatype(datatype)
    except ValueError as exc:
        raise RuntimeFailure(f"{where}.datatype: {exc}") from None
    shape = item.get("shape")
    if not isinstance(shape, list) or not all(_is_dim(d) for d in shape):
        raise RuntimeFailure(
            f"{where}.shape must be a list of integers >= 0 or -1 (any size), got {shape!r}"
        )
    return TensorSpec(name=name, datatype=parsed, shape=tuple(shape))


def _is_dim(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= -1


def _max_batch_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail("max_batch_size must be an integer >= 1", value)
    return value


def _max_batch_time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise _fail("max_batch_time_ms must be a number >= 0", value)
    return float(value)


def _parameters(value: object) -> dict[str, ParamValue]:
    if not isinstance(value, Mapping):
        raise _fail("parameters must be a mapping of name to value", value)
    params: dict[str, ParamValue] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise _fail("parameters keys must be strings", key)
        if not isinstance(item, bool | int | float | str):
            raise _fail(f"parameters.{key} must be a boolean, number or string", item)
        params[key] = item
    return params


def _implementation(value: object) -> str:
    if not isinstance(value, str) or (value and not _IMPLEMENTATION.match(value)):
        raise _fail("implementation must look like 'module:Class' (module in the model dir)", value)
    return value


def _device(value: object) -> str:
    if value not in DEVICES:
        raise _fail(f"device must be one of {', '.join(DEVICES)}", value)
    return str(value)


def _fail(message: str, got: object) -> RuntimeFailure:
    return RuntimeFailure(f"{SETTINGS_FILE}: {message}, got {got!r}")
