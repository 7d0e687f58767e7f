"""The `spec` of an Experiment document read into an `ExperimentSpec`, every problem collected.

Field names are Seldon Core v2's (`default`, `resourceType`, `candidates[].name/weight`,
`mirror.name/percent`) so its Experiment documents apply unchanged as long as they split
models: `resourceType: pipeline` is refused with a message rather than misread as models.
Weights and the mirror's percent have no defaults: a split nobody wrote down is a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadmaster.resources import yaml_fields as f
from loadmaster.resources.experiment_spec import (
    ExperimentCandidate,
    ExperimentMirror,
    ExperimentSpec,
    check_experiment,
)

SPEC_FIELDS = ("default", "resourceType", "candidates", "mirror")
CANDIDATE_FIELDS = ("name", "weight")
MIRROR_FIELDS = ("name", "percent")
RESOURCE_TYPES = ("model", "pipeline")


def parse_experiment_spec(name: str, raw: Mapping[Any, Any], fields: f.Fields) -> ExperimentSpec:
    fields.unknown(raw, SPEC_FIELDS, "spec.")
    get = f.Getter(raw, fields)
    get("resourceType", _resource_type, "model")
    default = get("default", f.string, "")
    candidates = _candidates(raw.get("candidates"), fields)
    mirror = _mirror(raw.get("mirror"), fields)
    spec = ExperimentSpec(name=name, candidates=candidates, default_model=default, mirror=mirror)
    fields.add_checks(check_experiment(spec))
    return spec


def _resource_type(value: object) -> str:
    if value == "pipeline":
        raise ValueError(
            "pipelines are not supported yet: an experiment splits traffic between models "
            "(resourceType: model)"
        )
    if value != "model":
        raise ValueError(f"expected model, got {f.shown(value)}")
    return "model"


def _candidates(value: object, fields: f.Fields) -> tuple[ExperimentCandidate, ...]:
    path = "spec.candidates"
    if not isinstance(value, list):
        if value is None:
            fields.problem(path, "required: a list of {name, weight}")
        else:
            fields.problem(path, f"expected a list of {{name, weight}}, got {f.shown(value)}")
        fields.bad.add("spec.default")  # cannot tell whether the default is a candidate
        return ()
    out: list[ExperimentCandidate] = []
    for index, item in enumerate(value):
        at = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            fields.problem(at, f"expected a mapping with name and weight, got {f.shown(item)}")
            out.append(ExperimentCandidate("", 1))  # keeps the indexes of the others
            fields.bad.add("spec.default")
            continue
        fields.unknown(item, CANDIDATE_FIELDS, f"{at}.")
        get = f.Getter(item, fields, prefix=f"{at}.")
        model = get("name", f.string, "")
        weight = get("weight", f.integer, 1)
        if item.get("name") is None:
            fields.problem(f"{at}.name", "required: the model's name")
        if item.get("weight") is None:
            fields.problem(f"{at}.weight", "required: a positive integer")
        if f"{at}.name" in fields.bad:
            fields.bad.add("spec.default")
        out.append(ExperimentCandidate(model, weight))
    return tuple(out)


def _mirror(value: object, fields: f.Fields) -> ExperimentMirror | None:
    path = "spec.mirror"
    if value is None:
        return None
    if not isinstance(value, Mapping):
        fields.problem(path, f"expected a mapping with name and percent, got {f.shown(value)}")
        return ExperimentMirror("", 100)  # a mirror was meant: one candidate stays enough
    fields.unknown(value, MIRROR_FIELDS, f"{path}.")
    get = f.Getter(value, fields, prefix=f"{path}.")
    model = get("name", f.string, "")
    percent = get("percent", f.integer, 100)
    if value.get("name") is None:
        fields.problem(f"{path}.name", "required: the mirror model's name")
    if value.get("percent") is None:
        fields.problem(f"{path}.percent", "required: the share of requests to copy, 1 to 100")
    return ExperimentMirror(model, percent)
