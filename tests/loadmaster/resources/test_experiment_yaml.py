"""Experiment documents from YAML: what parses to which spec, and the words of every refusal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from loadmaster.resources import (
    ExperimentCandidate,
    ExperimentMirror,
    ExperimentSpec,
    ResourceError,
    load_experiment_files,
    load_experiments,
    load_resource_files,
)

SELDON = """\
apiVersion: mlops.seldon.io/v1alpha1
kind: Experiment
metadata: {name: iris-ab, namespace: seldon-mesh}
spec:
  default: iris
  resourceType: model
  candidates:
  - name: iris
    weight: 50
  - name: iris-v2
    weight: 50
  mirror:
    name: iris-shadow
    percent: 20
---
apiVersion: loadmaster.io/v1alpha1
kind: Experiment
metadata: {name: plain}
spec:
  candidates: [{name: a, weight: 1}, {name: b, weight: 3}]
"""


def test_seldon_and_loadmaster_documents() -> None:
    ab, plain = load_experiments(SELDON, "x.yaml")
    assert ab == ExperimentSpec(
        name="iris-ab",
        candidates=(ExperimentCandidate("iris", 50), ExperimentCandidate("iris-v2", 50)),
        default_model="iris",
        mirror=ExperimentMirror("iris-shadow", 20),
    )
    assert plain == ExperimentSpec(
        name="plain", candidates=(ExperimentCandidate("a", 1), ExperimentCandidate("b", 3))
    )


def _doc(spec: str, name: str = "e", kind: str = "Experiment") -> str:
    head = f"apiVersion: loadmaster.io/v1alpha1\nkind: {kind}\n"
    return f"{head}metadata: {{name: {name}}}\nspec: {spec}\n"


AB = "[{name: a, weight: 1}, {name: b, weight: 1}]"
W = "f.yaml: document 1 (Experiment e): "

ERRORS = [
    pytest.param(
        _doc(f"{{candidates: {AB}, resourceType: pipeline}}"),
        [
            W + "spec.resourceType: pipelines are not supported yet: an experiment splits "
            "traffic between models (resourceType: model)"
        ],
        id="pipeline",
    ),
    pytest.param(
        _doc(f"{{candidates: {AB}, resourceType: Model}}"),
        [W + "spec.resourceType: expected model, got 'Model'"],
        id="resource-type",
    ),
    pytest.param(
        _doc(f"{{candidates: {AB}, defualt: a}}"),
        [W + "spec.defualt: unknown field (did you mean default?)"],
        id="unknown-spec-field",
    ),
    pytest.param(
        _doc("{candidates: [{name: a, wieght: 1}, {name: b, weight: 1}]}"),
        [
            W + "spec.candidates[0].wieght: unknown field (did you mean weight?)",
            W + "spec.candidates[0].weight: required: a positive integer",
        ],
        id="unknown-candidate-field",
    ),
    pytest.param(
        _doc(f"{{candidates: {AB}, mirror: {{name: m, precent: 5}}}}"),
        [
            W + "spec.mirror.precent: unknown field (did you mean percent?)",
            W + "spec.mirror.percent: required: the share of requests to copy, 1 to 100",
        ],
        id="unknown-mirror-field",
    ),
    pytest.param(
        _doc("{default: a}"),
        [W + "spec.candidates: required: a list of {name, weight}"],
        id="no-candidates",
    ),
    pytest.param(
        _doc("{candidates: a, default: a}"),
        [W + "spec.candidates: expected a list of {name, weight}, got 'a'"],
        id="candidates-not-a-list",
    ),
    pytest.param(
        _doc("{candidates: [a, {name: b, weight: 1}], default: a}"),
        [W + "spec.candidates[0]: expected a mapping with name and weight, got 'a'"],
        id="candidate-not-a-mapping",
    ),
    pytest.param(
        _doc("{candidates: [{name: a, weight: '50'}, {name: b, weight: 1.5}, {weight: 1}]}"),
        [
            W + "spec.candidates[0].weight: expected an integer, got '50'",
            W + "spec.candidates[1].weight: expected an integer, got 1.5",
            W + "spec.candidates[2].name: required: the model's name",
        ],
        id="candidate-types",
    ),
    pytest.param(
        _doc("{candidates: [{name: a, weight: 0}, {name: a, weight: 1}], default: c}"),
        [
            W + "spec.candidates[0].weight: must be a positive integer, got 0",
            W + "spec.candidates[1].name: duplicate candidate 'a' (also spec.candidates[0])",
            W + "spec.default: 'c' is not one of the candidates (a, a); the default model must "
            "be a candidate",
        ],
        id="rules-after-parsing",
    ),
    pytest.param(
        _doc("{candidates: [{name: a, weight: 1}]}"),
        [
            W + "spec.candidates: at least 2 candidates are required to split traffic (one is "
            "enough with a spec.mirror)"
        ],
        id="one-candidate",
    ),
    pytest.param(
        _doc("{candidates: [{name: a, weight: 1}], mirror: shadow}"),
        [W + "spec.mirror: expected a mapping with name and percent, got 'shadow'"],
        id="mirror-not-a-mapping",
    ),
    pytest.param(
        _doc(f"{{candidates: {AB}, mirror: {{name: a, percent: 120}}}}"),
        [
            W + "spec.mirror.name: 'a' is also a candidate; the mirror must be a model outside "
            "the split",
            W + "spec.mirror.percent: must be from 1 to 100, got 120",
        ],
        id="mirror-rules",
    ),
    pytest.param(
        "apiVersion: loadmaster.io/v1alpha1\nkind: Experiment\nmetadata: {name: e}\n",
        [W + "spec: required (at least candidates)"],
        id="no-spec",
    ),
    pytest.param(
        _doc("{storageUri: x}", kind="Model"),
        [
            "f.yaml: document 1 (Model e): kind Model is not an experiment: load models with "
            "`loadmaster model load -f FILE`"
        ],
        id="model-is-not-an-experiment",
    ),
    pytest.param(
        _doc(f"{{candidates: {AB}}}") + "---\n" + _doc(f"{{candidates: {AB}}}"),
        [
            "f.yaml: document 2 (Experiment e): metadata.name: duplicate experiment 'e', also "
            "in f.yaml document 1"
        ],
        id="duplicate-name",
    ),
]


@pytest.mark.parametrize(("text", "problems"), ERRORS)
def test_refusals(text: str, problems: list[str]) -> None:
    with pytest.raises(ResourceError) as raised:
        load_experiments(text, "f.yaml")
    assert raised.value.problems == problems


def test_files_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "ab.yaml").write_text(_doc(f"{{candidates: {AB}}}", name="ab"))
    stdin = io.StringIO(_doc(f"{{candidates: {AB}}}", name="cd"))
    specs = load_experiment_files([tmp_path, "-"], stdin=stdin)
    assert [s.name for s in specs] == ["ab", "cd"]


def test_model_files_refuse_experiments(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(_doc("{storageUri: x}", name="m", kind="Model") + "---\n" + SELDON)
    with pytest.raises(ResourceError) as raised:
        load_resource_files([mixed])
    assert raised.value.problems == [
        f"{mixed}: document 2 (Experiment iris-ab): kind Experiment is not a model: start "
        "experiments with `loadmaster experiment start -f FILE`",
        f"{mixed}: document 3 (Experiment plain): kind Experiment is not a model: start "
        "experiments with `loadmaster experiment start -f FILE`",
    ]


def test_examples_parse() -> None:
    root = Path(__file__).resolve().parents[3] / "examples" / "experiments"
    (ab,) = load_experiment_files([root / "iris-ab.yaml"])
    assert [(c.model, c.weight) for c in ab.candidates] == [("iris", 50), ("iris-v2", 50)]
    (v2,) = load_resource_files([root / "iris-v2.yaml"])
    assert v2.name == "iris-v2"
