"""The YAML boundary: what parses to which spec, and the exact words of every refusal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from loadmaster.resources import ModelSpec, ResourceError, load_resource_files, load_resources

VALID = """\
# a comment before the first document
apiVersion: loadmaster.io/v1alpha1
kind: Model
metadata: {name: iris, namespace: default, labels: {team: a}, annotations: {x: y}}
spec:
  storageUri: file:///models/iris
  requirements: [torch]
  memory: 200Mi
  replicas: 2
  minReplicas: 1
  maxReplicas: 4
  server: gpu-pool
  parameters: {max_batch_size: 32, max_batch_time_ms: 2.5, warm: true, mode: fast}
---
---
apiVersion: mlops.seldon.io/v1alpha1
kind: Model
metadata:
  name: mlp
spec:
  storageUri: s3://bucket/mlp
  memory: 1048576
  gpuMemory: 1Gi
  instances: 2
"""


def test_valid_multi_document() -> None:
    iris, mlp = load_resources(VALID, "models.yaml")
    assert iris == ModelSpec(
        name="iris",
        storage_uri="file:///models/iris",
        requirements=frozenset({"torch"}),
        memory_bytes=200 * 2**20,
        replicas=2,
        min_replicas=1,
        max_replicas=4,
        server="gpu-pool",
        parameters=(
            ("max_batch_size", "32"),
            ("max_batch_time_ms", "2.5"),
            ("warm", "true"),
            ("mode", "fast"),
        ),
    )
    assert mlp == ModelSpec(
        name="mlp",
        storage_uri="s3://bucket/mlp",
        memory_bytes=2**20,
        gpu_memory_bytes=2**30,
        instances=2,
    )


@pytest.mark.parametrize(
    ("spec", "replicas", "min_replicas", "max_replicas"),
    [
        ("{storageUri: x}", 1, 1, 0),
        ("{storageUri: x, replicas: 0}", 0, 0, 0),
        ("{storageUri: x, replicas: 3}", 3, 1, 0),
        ("{storageUri: x, replicas: 3, minReplicas: 3, maxReplicas: 0}", 3, 3, 0),
        ("{storageUri: x, replicas: ~}", 1, 1, 0),  # null means "not set"
    ],
)
def test_replica_defaults(spec: str, replicas: int, min_replicas: int, max_replicas: int) -> None:
    (model,) = load_resources(
        f"kind: Model\napiVersion: loadmaster.io/v1alpha1\nmetadata: {{name: m}}\nspec: {spec}\n"
    )
    assert (model.replicas, model.min_replicas, model.max_replicas) == (
        replicas,
        min_replicas,
        max_replicas,
    )


@pytest.mark.parametrize("text", ["", "---\n", "# only a comment\n", "---\n---\n"])
def test_empty_documents_are_skipped(text: str) -> None:
    assert load_resources(text) == []


def _doc(spec: str = "{storageUri: x}", name: str = "m", head: str = "") -> str:
    head = head or "apiVersion: loadmaster.io/v1alpha1\nkind: Model\n"
    return f"{head}metadata: {{name: {name}}}\nspec: {spec}\n"


ERRORS = [
    pytest.param(
        _doc("{storageUri: x, replcas: 3}"),
        ["f.yaml: document 1 (Model m): spec.replcas: unknown field (did you mean replicas?)"],
        id="unknown-spec-field",
    ),
    pytest.param(
        _doc("{storageURI: x}"),
        [
            "f.yaml: document 1 (Model m): spec.storageURI: unknown field "
            "(did you mean storageUri?)",
            "f.yaml: document 1 (Model m): spec.storageUri: required",
        ],
        id="case-typo",
    ),
    pytest.param(
        _doc() + "extra: 1\n",
        [
            "f.yaml: document 1 (Model m): extra: unknown field "
            "(known fields: apiVersion, kind, metadata, spec)"
        ],
        id="unknown-top-field",
    ),
    pytest.param(
        "apiVersion: loadmaster.io/v1alpha1\nkind: Model\n"
        "metadata: {name: m, nmespace: a}\nspec: {storageUri: x}\n",
        [
            "f.yaml: document 1 (Model m): metadata.nmespace: unknown field "
            "(did you mean namespace?)"
        ],
        id="unknown-metadata-field",
    ),
    pytest.param(
        _doc("{storageUri: x, memory: 12Zi}"),
        [
            "f.yaml: document 1 (Model m): spec.memory: invalid memory quantity '12Zi': expected "
            "a number with an optional suffix (k, K, M, G, T, Ki, Mi, Gi, Ti), e.g. 200Mi or 4Gi"
        ],
        id="bad-quantity",
    ),
    pytest.param(
        _doc("{storageUri: x, gpuMemory: [1]}"),
        [
            "f.yaml: document 1 (Model m): spec.gpuMemory: expected a quantity such as 200Mi or "
            "a number of bytes, got a list"
        ],
        id="quantity-type",
    ),
    pytest.param(
        _doc("{storageUri: x, replicas: 2, minReplicas: 3}"),
        ["f.yaml: document 1 (Model m): spec.minReplicas: 3 is above spec.replicas (2)"],
        id="min-above-replicas",
    ),
    pytest.param(
        _doc("{storageUri: x, replicas: -1}"),
        ["f.yaml: document 1 (Model m): spec.replicas: must not be negative, got -1"],
        id="negative-replicas",
    ),
    pytest.param(
        _doc(name='""'),
        ["f.yaml: document 1: metadata.name: must not be empty"],
        id="empty-name",
    ),
    pytest.param(
        "apiVersion: loadmaster.io/v1alpha1\nkind: Model\nspec: {storageUri: x}\n",
        ["f.yaml: document 1: metadata.name: required"],
        id="missing-name",
    ),
    pytest.param(
        _doc(name="'bad name'"),
        [
            "f.yaml: document 1 (Model bad name): metadata.name: 'bad name' is not a valid name: "
            "use letters, digits, '_', '.', '-' (at most 128), starting with a letter or digit"
        ],
        id="invalid-name",
    ),
    pytest.param(
        _doc(head="apiVersion: loadmaster.io/v1alpha1\nkind: Pipeline\n"),
        [
            "f.yaml: document 1 (Pipeline m): kind Pipeline is not a model: load pipelines "
            "with `loadmaster pipeline load -f FILE`"
        ],
        id="pipeline",
    ),
    pytest.param(
        _doc(head="apiVersion: loadmaster.io/v1alpha1\nkind: Experiment\n"),
        [
            "f.yaml: document 1 (Experiment m): kind Experiment is not a model: start "
            "experiments with `loadmaster experiment start -f FILE`"
        ],
        id="experiment-is-not-a-model",
    ),
    pytest.param(
        _doc(head="apiVersion: loadmaster.io/v1alpha1\nkind: Deployment\n"),
        [
            "f.yaml: document 1 (Deployment m): kind: unknown kind 'Deployment'; "
            "known kinds: Model, Pipeline, Experiment"
        ],
        id="unknown-kind",
    ),
    pytest.param(
        _doc(head="apiVersion: loadmaster.io/v1alpha1\nkind: model\n"),
        [
            "f.yaml: document 1 (model m): kind: unknown kind 'model' (did you mean Model?); "
            "known kinds: Model, Pipeline, Experiment"
        ],
        id="kind-typo",
    ),
    pytest.param(
        _doc(head="apiVersion: v1\nkind: Model\n"),
        [
            "f.yaml: document 1 (Model m): apiVersion: unsupported 'v1': use "
            "loadmaster.io/v1alpha1 (mlops.seldon.io/v1alpha1 is accepted too)"
        ],
        id="wrong-api-version",
    ),
    pytest.param(
        _doc(head="kind: Model\n"),
        ["f.yaml: document 1 (Model m): apiVersion: required (loadmaster.io/v1alpha1)"],
        id="missing-api-version",
    ),
    pytest.param(
        _doc("{storageUri: x, replicas: two}"),
        ["f.yaml: document 1 (Model m): spec.replicas: expected an integer, got 'two'"],
        id="replicas-string",
    ),
    pytest.param(
        _doc("{storageUri: x, instances: true}"),
        ["f.yaml: document 1 (Model m): spec.instances: expected an integer, got true"],
        id="bool-is-not-int",
    ),
    pytest.param(
        _doc("{storageUri: x, maxReplicas: 1.5}"),
        ["f.yaml: document 1 (Model m): spec.maxReplicas: expected an integer, got 1.5"],
        id="float-is-not-int",
    ),
    pytest.param(
        _doc("{storageUri: 3}"),
        ["f.yaml: document 1 (Model m): spec.storageUri: expected a string, got 3"],
        id="uri-type",
    ),
    pytest.param(
        _doc("{storageUri: x, requirements: torch}"),
        [
            "f.yaml: document 1 (Model m): spec.requirements: expected a list of strings, "
            "got 'torch'"
        ],
        id="requirements-not-list",
    ),
    pytest.param(
        _doc("{storageUri: x, requirements: [torch, 3]}"),
        ["f.yaml: document 1 (Model m): spec.requirements[1]: expected a string, got 3"],
        id="requirements-item",
    ),
    pytest.param(
        _doc("{storageUri: x, parameters: {a: 1, b: {c: 2}, d: [1]}}"),
        [
            "f.yaml: document 1 (Model m): spec.parameters.b: expected a string, number or "
            "boolean, got a mapping",
            "f.yaml: document 1 (Model m): spec.parameters.d: expected a string, number or "
            "boolean, got a list",
        ],
        id="nested-parameter",
    ),
    pytest.param(
        _doc("{storageUri: x, parameters: [a]}"),
        [
            "f.yaml: document 1 (Model m): spec.parameters: expected a mapping of names to "
            "values, got a list"
        ],
        id="parameters-not-mapping",
    ),
    pytest.param(
        _doc("{memory: 1Gi}"),
        ["f.yaml: document 1 (Model m): spec.storageUri: required"],
        id="missing-uri",
    ),
    pytest.param(
        "apiVersion: loadmaster.io/v1alpha1\nkind: Model\nmetadata: {name: m}\n",
        ["f.yaml: document 1 (Model m): spec: required (at least storageUri)"],
        id="missing-spec",
    ),
    pytest.param(
        _doc("[1, 2]"),
        ["f.yaml: document 1 (Model m): spec: expected a mapping, got a list"],
        id="spec-not-mapping",
    ),
    pytest.param(
        "- a\n- b\n",
        [
            "f.yaml: document 1: expected a mapping with apiVersion, kind, metadata and spec, "
            "got a list"
        ],
        id="document-not-mapping",
    ),
    pytest.param(
        _doc() + "---\n" + _doc("{storageUri: y}"),
        [
            "f.yaml: document 2 (Model m): metadata.name: duplicate model 'm', also in "
            "f.yaml document 1"
        ],
        id="duplicate-name",
    ),
    pytest.param(
        _doc() + "---\nkind: [\n",
        [
            "f.yaml: document 2: invalid YAML at line 7, column 1: expected the node content, "
            "but found '<stream end>'"
        ],
        id="yaml-syntax",
    ),
    pytest.param(
        _doc("{storageUri: x, replcas: 3, memory: 12Zi, replicas: two, minReplicas: 5}")
        + "---\n"
        + _doc(head="apiVersion: v2\nkind: Model\n", name="n"),
        [
            "f.yaml: document 1 (Model m): spec.replcas: unknown field (did you mean replicas?)",
            "f.yaml: document 1 (Model m): spec.replicas: expected an integer, got 'two'",
            "f.yaml: document 1 (Model m): spec.memory: invalid memory quantity '12Zi': expected "
            "a number with an optional suffix (k, K, M, G, T, Ki, Mi, Gi, Ti), e.g. 200Mi or 4Gi",
            "f.yaml: document 2 (Model n): apiVersion: unsupported 'v2': use "
            "loadmaster.io/v1alpha1 (mlops.seldon.io/v1alpha1 is accepted too)",
        ],
        id="all-problems-collected",
    ),
]


@pytest.mark.parametrize(("text", "problems"), ERRORS)
def test_refusals(text: str, problems: list[str]) -> None:
    with pytest.raises(ResourceError) as raised:
        load_resources(text, "f.yaml")
    assert raised.value.problems == problems
    assert str(raised.value) == "\n".join(problems)
    assert isinstance(raised.value, ValueError)


def test_files_directories_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_doc(name="a"))
    (tmp_path / "b.yml").write_text(_doc(name="b"))
    (tmp_path / "notes.txt").write_text("not yaml: [")
    (tmp_path / "sub").mkdir()  # directories are read one level deep
    single = tmp_path / "sub" / "c.yaml"
    single.write_text(_doc(name="c"))
    stdin = io.StringIO(_doc(name="d"))
    specs = load_resource_files([tmp_path, single, "-"], stdin=stdin)
    assert [s.name for s in specs] == ["a", "b", "c", "d"]


def test_duplicates_across_files_and_missing_files(tmp_path: Path) -> None:
    first = tmp_path / "one.yaml"
    first.write_text(_doc(name="a"))
    second = tmp_path / "two.yaml"
    second.write_text(_doc(name="a"))
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(ResourceError) as raised:
        load_resource_files([first, tmp_path / "missing.yaml", second, empty_dir])
    assert raised.value.problems == [
        f"{tmp_path / 'missing.yaml'}: no such file",
        f"{second}: document 1 (Model a): metadata.name: duplicate model 'a', also in "
        f"{first} document 1",
        f"{empty_dir}: directory holds no .yaml or .yml files",
    ]


def test_file_that_is_not_text(tmp_path: Path) -> None:
    binary = tmp_path / "model.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ResourceError, match=r"model\.yaml: not UTF-8 text"):
        load_resource_files([binary])
