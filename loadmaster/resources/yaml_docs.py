"""Model resources from YAML (brief §2): kubectl-style documents turned into `ModelSpec`s.

This is the one place where user-written text becomes a spec, so it is strict and talkative:
unknown fields are errors (a typo such as `replcas` must not silently mean "1 replica"), every
problem names its file, document and field path, and all problems of all documents are
collected before anything is raised, so one run of `loadmaster model load` shows every mistake.
A spec that parses is finished with `check_spec`, the same rules the scheduler applies.

Field names follow Seldon Core v2, and `mlops.seldon.io/v1alpha1` is accepted as well as
`loadmaster.io/v1alpha1`, so Seldon users can migrate their Model documents unchanged.
`metadata.namespace`, `labels` and `annotations` are accepted and ignored for the same reason.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO, TypeVar

import yaml

from loadmaster.resources.model_spec import ModelSpec, check_spec
from loadmaster.units import parse_memory

API_VERSION = "loadmaster.io/v1alpha1"
SELDON_API_VERSION = "mlops.seldon.io/v1alpha1"
API_VERSIONS = (API_VERSION, SELDON_API_VERSION)
UNSUPPORTED_KINDS = ("Pipeline", "Experiment")
KNOWN_KINDS = ("Model", *UNSUPPORTED_KINDS)

_TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_METADATA_FIELDS = ("name", "namespace", "labels", "annotations")
_SPEC_FIELDS = (
    "storageUri",
    "requirements",
    "memory",
    "gpuMemory",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "server",
    "parameters",
    "instances",
)
_YAML_SUFFIXES = (".yaml", ".yml")


class ResourceError(ValueError):
    """Every problem found, one line each, already prefixed with file and document."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("\n".join(self.problems))


def load_resources(text: str, source: str = "<stdin>") -> list[ModelSpec]:
    """The Model specs in a multi-document YAML text; `ResourceError` listing every problem."""
    loader = _Loader()
    loader.add_text(text, source)
    return loader.finish()


def load_resource_files(
    paths: Sequence[Path | str], stdin: TextIO | None = None
) -> list[ModelSpec]:
    """The Model specs of every file in order; `-` reads `stdin` (default `sys.stdin`).

    A directory stands for its `*.yaml` and `*.yml` files, sorted, as with `kubectl -f DIR`.
    Model names must be unique across all files.
    """
    loader = _Loader()
    for path in paths:
        if str(path) == "-":
            loader.add_text((stdin or sys.stdin).read(), "<stdin>")
            continue
        for file in _expand(Path(path), loader.problems):
            text = _read(file, loader.problems)
            if text is not None:
                loader.add_text(text, str(file))
    return loader.finish()


def _expand(path: Path, problems: list[str]) -> list[Path]:
    if not path.exists():
        problems.append(f"{path}: no such file")
        return []
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix in _YAML_SUFFIXES and p.is_file())
    if not files:
        problems.append(f"{path}: directory holds no .yaml or .yml files")
    return files


def _read(path: Path, problems: list[str]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problems.append(f"{path}: not UTF-8 text")
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror or exc}")
    return None


@dataclass
class _Loader:
    """Accumulates specs and problems over several sources; `finish` raises or returns."""

    problems: list[str] = field(default_factory=list)
    specs: list[ModelSpec] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)  # model name -> where it was defined

    def add_text(self, text: str, source: str) -> None:
        index = 0
        try:
            for index, document in enumerate(yaml.safe_load_all(text), start=1):
                if document is not None:
                    self._add_document(document, source, index)
        except yaml.YAMLError as exc:
            self.problems.append(f"{source}: document {index + 1}: {_yaml_problem(exc)}")

    def finish(self) -> list[ModelSpec]:
        if self.problems:
            raise ResourceError(self.problems)
        return self.specs

    def _add_document(self, document: object, source: str, index: int) -> None:
        where = f"{source}: document {index}"
        if not isinstance(document, Mapping):
            self.problems.append(
                f"{where}: expected a mapping with apiVersion, kind, metadata and spec, "
                f"got {_shown(document)}"
            )
            return
        name = _name_of(document)
        kind = document.get("kind")
        label = f"{source} document {index}"
        if isinstance(kind, str) and name:
            where = f"{where} ({kind} {name})"
        fields = _Fields()
        spec = _parse_model(document, fields)
        if spec is not None and name:
            earlier = self.seen.get(name)
            if earlier is not None:
                fields.problem("metadata.name", f"duplicate model {name!r}, also in {earlier}")
            else:
                self.seen[name] = label
        self.problems.extend(f"{where}: {problem}" for problem in fields.problems)
        if spec is not None and not fields.problems:
            self.specs.append(spec)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return f"invalid YAML: {exc}"


def _name_of(document: Mapping[Any, Any]) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else ""


class _Fields:
    """Problems of one document, and which field paths had one (to silence follow-on checks)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.bad: set[str] = set()

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")
        self.bad.add(path)

    def unknown(self, mapping: Mapping[Any, Any], known: Sequence[str], prefix: str) -> None:
        for key in mapping:
            if key not in known:
                self.problem(f"{prefix}{key}", f"unknown field ({_suggest(str(key), known)})")


def _suggest(key: str, known: Sequence[str], cutoff: float = 0.6) -> str:
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=cutoff)
    if close:
        return f"did you mean {by_lower[close[0]]}?"
    return "known fields: " + ", ".join(known)


def _parse_model(document: Mapping[Any, Any], fields: _Fields) -> ModelSpec | None:
    """The document's spec, or None when it is not a Model; problems go to `fields`."""
    fields.unknown(document, _TOP_FIELDS, "")
    kind = document.get("kind")
    if kind is None:
        fields.problem("kind", "required (Model)")
    elif kind in UNSUPPORTED_KINDS:
        fields.problems.append(f"kind {kind} is not supported by this release")
        return None
    elif kind != "Model":
        hint = _suggest(str(kind), KNOWN_KINDS, cutoff=0.75) if isinstance(kind, str) else ""
        hint = f" ({hint})" if hint.startswith("did") else ""
        known = ", ".join(KNOWN_KINDS)
        fields.problem("kind", f"unknown kind {_shown(kind)}{hint}; known kinds: {known}")
        return None
    api_version = document.get("apiVersion")
    if api_version is None:
        fields.problem("apiVersion", f"required ({API_VERSION})")
    elif api_version not in API_VERSIONS:
        fields.problem(
            "apiVersion",
            f"unsupported {_shown(api_version)}: use {API_VERSION} "
            f"({SELDON_API_VERSION} is accepted too)",
        )
    name = _parse_metadata(document.get("metadata"), fields)
    raw_spec = document.get("spec")
    if raw_spec is None:
        fields.problem("spec", "required (at least storageUri)")
        return None
    if not isinstance(raw_spec, Mapping):
        fields.problem("spec", f"expected a mapping, got {_shown(raw_spec)}")
        return None
    spec = _parse_spec(name, raw_spec, fields)
    field_paths = [path for path in fields.bad if "." in path]
    for problem in check_spec(spec):
        if not any(path in problem for path in field_paths):
            fields.problems.append(problem)
    return spec


def _parse_metadata(metadata: object, fields: _Fields) -> str:
    if metadata is None:
        fields.problem("metadata.name", "required")
        return ""
    if not isinstance(metadata, Mapping):
        fields.problem("metadata", f"expected a mapping with a name, got {_shown(metadata)}")
        fields.bad.add("metadata.name")
        return ""
    fields.unknown(metadata, _METADATA_FIELDS, "metadata.")
    name = metadata.get("name")
    if name is None:
        fields.problem("metadata.name", "required")
        return ""
    if not isinstance(name, str):
        fields.problem("metadata.name", f"expected a string, got {_shown(name)}")
        return ""
    return name


def _parse_spec(name: str, raw: Mapping[Any, Any], fields: _Fields) -> ModelSpec:
    fields.unknown(raw, _SPEC_FIELDS, "spec.")
    get = _Getter(raw, fields)
    storage_uri = get("storageUri", _string, "")
    if "storageUri" not in raw or raw["storageUri"] is None:
        fields.problem("spec.storageUri", "required")
    replicas = get("replicas", _count, 1)
    return ModelSpec(
        name=name,
        storage_uri=storage_uri,
        memory_bytes=get("memory", _quantity, 0),
        gpu_memory_bytes=get("gpuMemory", _quantity, 0),
        replicas=replicas,
        min_replicas=get("minReplicas", _count, max(0, min(1, replicas))),
        max_replicas=get("maxReplicas", _count, 0),
        requirements=get("requirements", _strings, frozenset[str]()),
        server=get("server", _string, ""),
        parameters=tuple(get("parameters", _parameters, dict[str, str]()).items()),
        instances=get("instances", _count, 0),
    )


_T = TypeVar("_T")


class _ItemProblems(ValueError):
    """Problems inside a list or mapping field, each at its own sub-path (`[1]`, `.name`)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items
        super().__init__("; ".join(f"{path}: {message}" for path, message in items))


class _Getter:
    """Reads one spec field through a converter; a ValueError becomes a problem at its path.

    A null value (`replicas:` with nothing after it) means "not set", as in Kubernetes.
    """

    def __init__(self, raw: Mapping[Any, Any], fields: _Fields) -> None:
        self._raw = raw
        self._fields = fields

    def __call__(self, key: str, convert: Callable[[object], _T], default: _T) -> _T:
        value = self._raw.get(key)
        if value is None:
            return default
        path = f"spec.{key}"
        try:
            return convert(value)
        except _ItemProblems as exc:
            for sub, message in exc.items:
                self._fields.problem(f"{path}{sub}", message)
            self._fields.bad.add(path)
        except ValueError as exc:
            self._fields.problem(path, str(exc))
        return default


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_shown(value)}")
    return value


def _count(value: object) -> int:
    """A whole number of at least 0; a bool is not one, though Python says it is."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {_shown(value)}")
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _quantity(value: object) -> int:
    """`200Mi`, `4Gi` or a whole number of bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(
            f"expected a quantity such as 200Mi or a number of bytes, got {_shown(value)}"
        )
    return parse_memory(value)


def _strings(value: object) -> frozenset[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of strings, got {_shown(value)}")
    wrong = [
        (f"[{i}]", f"expected a string, got {_shown(v)}")
        for i, v in enumerate(value)
        if not isinstance(v, str)
    ]
    if wrong:
        raise _ItemProblems(wrong)
    return frozenset(str(v) for v in value)


def _parameters(value: object) -> dict[str, str]:
    """Scalars become the strings runtimes read: 32 -> "32", true -> "true"."""
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping of names to values, got {_shown(value)}")
    out: dict[str, str] = {}
    wrong: list[tuple[str, str]] = []
    for key, item in value.items():
        if isinstance(item, bool):
            out[str(key)] = "true" if item else "false"
        elif isinstance(item, str | int | float | date):
            out[str(key)] = str(item)
        else:
            message = f"expected a string, number or boolean, got {_shown(item)}"
            wrong.append((f".{key}", message))
    if wrong:
        raise _ItemProblems(wrong)
    return out


def _shown(value: object) -> str:
    """How a wrong value is quoted in a message: scalars as written, containers by kind."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
