"""Resources from YAML (brief §2): kubectl-style Model, Experiment and Pipeline documents as
specs.

This is the one place where user-written text becomes a spec, so it is strict and talkative:
unknown fields are errors (a typo such as `replcas` must not silently mean "1 replica"), every
problem names its file, document and field path, and all problems of all documents are
collected before anything is raised, so one run of `loadmaster model load` shows every mistake.
A spec that parses is finished with the same rules the scheduler applies (`check_spec`,
`check_experiment`, `check_pipeline`); the per-kind `spec` readers are `model_yaml`,
`experiment_yaml` and `pipeline_yaml`.

Each command takes one kind (`model load` Models, `experiment start` Experiments, `pipeline
load` Pipelines) and refuses the others with a message naming the command that takes each,
rather than skipping it silently:
a document that was written to be applied and was not is a surprise found much later.

Field names follow Seldon Core v2, and `mlops.seldon.io/v1alpha1` is accepted as well as
`loadmaster.io/v1alpha1`, so Seldon users can migrate their documents unchanged.
`metadata.namespace`, `labels` and `annotations` are accepted and ignored for the same reason.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from loadmaster.resources.experiment_spec import ExperimentSpec
from loadmaster.resources.experiment_yaml import parse_experiment_spec
from loadmaster.resources.model_spec import ModelSpec
from loadmaster.resources.model_yaml import parse_model_spec
from loadmaster.resources.pipeline_spec import PipelineSpec
from loadmaster.resources.pipeline_yaml import parse_pipeline_spec
from loadmaster.resources.yaml_fields import Fields, shown, suggest

API_VERSION = "loadmaster.io/v1alpha1"
SELDON_API_VERSION = "mlops.seldon.io/v1alpha1"
API_VERSIONS = (API_VERSION, SELDON_API_VERSION)
MODEL = "Model"
EXPERIMENT = "Experiment"
PIPELINE = "Pipeline"
KNOWN_KINDS = (MODEL, PIPELINE, EXPERIMENT)

# For a kind the running command does not take: what it is not, and what to run instead.
_A = {MODEL: "a model", EXPERIMENT: "an experiment", PIPELINE: "a pipeline"}
_ELSEWHERE = {
    MODEL: "load models with `loadmaster model load -f FILE`",
    EXPERIMENT: "start experiments with `loadmaster experiment start -f FILE`",
    PIPELINE: "load pipelines with `loadmaster pipeline load -f FILE`",
}
_SPEC_HINT = {
    MODEL: "at least storageUri",
    EXPERIMENT: "at least candidates",
    PIPELINE: "at least steps",
}
_TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_METADATA_FIELDS = ("name", "namespace", "labels", "annotations")
_YAML_SUFFIXES = (".yaml", ".yml")


class ResourceError(ValueError):
    """Every problem found, one line each, already prefixed with file and document."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("\n".join(self.problems))


def load_resources(text: str, source: str = "<stdin>") -> list[ModelSpec]:
    """The Model specs in a multi-document YAML text; `ResourceError` listing every problem."""
    loader = _Loader(MODEL)
    loader.add_text(text, source)
    return [s for s in loader.finish() if isinstance(s, ModelSpec)]


def load_resource_files(
    paths: Sequence[Path | str], stdin: TextIO | None = None
) -> list[ModelSpec]:
    """The Model specs of every file in order; `-` reads `stdin` (default `sys.stdin`).

    A directory stands for its `*.yaml` and `*.yml` files, sorted, as with `kubectl -f DIR`.
    Model names must be unique across all files; any other kind is a problem.
    """
    specs = _load_files(MODEL, paths, stdin)
    return [s for s in specs if isinstance(s, ModelSpec)]


def load_experiments(text: str, source: str = "<stdin>") -> list[ExperimentSpec]:
    """The Experiment specs in a multi-document YAML text; `ResourceError` as above."""
    loader = _Loader(EXPERIMENT)
    loader.add_text(text, source)
    return [s for s in loader.finish() if isinstance(s, ExperimentSpec)]


def load_experiment_files(
    paths: Sequence[Path | str], stdin: TextIO | None = None
) -> list[ExperimentSpec]:
    """The Experiment specs of every file in order, read as `load_resource_files` reads."""
    specs = _load_files(EXPERIMENT, paths, stdin)
    return [s for s in specs if isinstance(s, ExperimentSpec)]


def load_pipelines(text: str, source: str = "<stdin>") -> list[PipelineSpec]:
    """The Pipeline specs in a multi-document YAML text; `ResourceError` as above."""
    loader = _Loader(PIPELINE)
    loader.add_text(text, source)
    return [s for s in loader.finish() if isinstance(s, PipelineSpec)]


def load_pipeline_files(
    paths: Sequence[Path | str], stdin: TextIO | None = None
) -> list[PipelineSpec]:
    """The Pipeline specs of every file in order, read as `load_resource_files` reads."""
    specs = _load_files(PIPELINE, paths, stdin)
    return [s for s in specs if isinstance(s, PipelineSpec)]


Spec = ModelSpec | ExperimentSpec | PipelineSpec


def _load_files(kind: str, paths: Sequence[Path | str], stdin: TextIO | None) -> list[Spec]:
    loader = _Loader(kind)
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
    """Accumulates specs of one kind and problems over several sources; `finish` raises or
    returns."""

    kind: str
    problems: list[str] = field(default_factory=list)
    specs: list[Spec] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)  # name -> where it was defined

    def add_text(self, text: str, source: str) -> None:
        index = 0
        try:
            for index, document in enumerate(yaml.safe_load_all(text), start=1):
                if document is not None:
                    self._add_document(document, source, index)
        except yaml.YAMLError as exc:
            self.problems.append(f"{source}: document {index + 1}: {_yaml_problem(exc)}")

    def finish(self) -> list[Spec]:
        if self.problems:
            raise ResourceError(self.problems)
        return self.specs

    def _add_document(self, document: object, source: str, index: int) -> None:
        where = f"{source}: document {index}"
        if not isinstance(document, Mapping):
            self.problems.append(
                f"{where}: expected a mapping with apiVersion, kind, metadata and spec, "
                f"got {shown(document)}"
            )
            return
        name = _name_of(document)
        kind = document.get("kind")
        label = f"{source} document {index}"
        if isinstance(kind, str) and name:
            where = f"{where} ({kind} {name})"
        fields = Fields()
        spec = _parse_document(document, self.kind, fields)
        if spec is not None and name:
            earlier = self.seen.get(name)
            if earlier is not None:
                what = self.kind.lower()
                fields.problem("metadata.name", f"duplicate {what} {name!r}, also in {earlier}")
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


def _parse_document(document: Mapping[Any, Any], wanted: str, fields: Fields) -> Spec | None:
    """The document's spec, or None when it is not of the `wanted` kind; problems go to
    `fields`."""
    fields.unknown(document, _TOP_FIELDS, "")
    kind = document.get("kind")
    if kind is None:
        fields.problem("kind", f"required ({wanted})")
    elif kind in _ELSEWHERE and kind != wanted:
        fields.problems.append(f"kind {kind} is not {_A[wanted]}: {_ELSEWHERE[kind]}")
        return None
    elif kind != wanted:
        hint = suggest(str(kind), KNOWN_KINDS, cutoff=0.75) if isinstance(kind, str) else ""
        hint = f" ({hint})" if hint.startswith("did") else ""
        known = ", ".join(KNOWN_KINDS)
        fields.problem("kind", f"unknown kind {shown(kind)}{hint}; known kinds: {known}")
        return None
    api_version = document.get("apiVersion")
    if api_version is None:
        fields.problem("apiVersion", f"required ({API_VERSION})")
    elif api_version not in API_VERSIONS:
        fields.problem(
            "apiVersion",
            f"unsupported {shown(api_version)}: use {API_VERSION} "
            f"({SELDON_API_VERSION} is accepted too)",
        )
    name = _parse_metadata(document.get("metadata"), fields)
    raw_spec = document.get("spec")
    if raw_spec is None:
        fields.problem("spec", f"required ({_SPEC_HINT[wanted]})")
        return None
    if not isinstance(raw_spec, Mapping):
        fields.problem("spec", f"expected a mapping, got {shown(raw_spec)}")
        return None
    if wanted == EXPERIMENT:
        return parse_experiment_spec(name, raw_spec, fields)
    if wanted == PIPELINE:
        return parse_pipeline_spec(name, raw_spec, fields)
    return parse_model_spec(name, raw_spec, fields)


def _parse_metadata(metadata: object, fields: Fields) -> str:
    if metadata is None:
        fields.problem("metadata.name", "required")
        return ""
    if not isinstance(metadata, Mapping):
        fields.problem("metadata", f"expected a mapping with a name, got {shown(metadata)}")
        fields.bad.add("metadata.name")
        return ""
    fields.unknown(metadata, _METADATA_FIELDS, "metadata.")
    name = metadata.get("name")
    if name is None:
        fields.problem("metadata.name", "required")
        return ""
    if not isinstance(name, str):
        fields.problem("metadata.name", f"expected a string, got {shown(name)}")
        return ""
    return name
