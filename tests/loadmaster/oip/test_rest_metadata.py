"""REST JSON of errors, metadata and the repository index, with the OIP field names."""

from __future__ import annotations

import orjson

from loadmaster.oip.datatypes import DataType
from loadmaster.oip.rest_codec import (
    error_body,
    model_metadata_json,
    repository_index_json,
    server_metadata_json,
)
from loadmaster.oip.types import ModelMetadata, RepositoryEntry, ServerMetadata, TensorSpec


def test_error_body_escapes_the_message() -> None:
    assert orjson.loads(error_body('bad "x"\n')) == {"error": 'bad "x"\n'}


def test_model_metadata() -> None:
    meta = ModelMetadata(
        name="iris",
        versions=("1", "2"),
        platform="sklearn",
        inputs=(TensorSpec("x", DataType.FP32, (-1, 4)),),
        outputs=(TensorSpec("y", DataType.INT64, (-1,)),),
        parameters={"content_type": "np", "workers": 2},
    )
    assert orjson.loads(model_metadata_json(meta)) == {
        "name": "iris",
        "versions": ["1", "2"],
        "platform": "sklearn",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "y", "datatype": "INT64", "shape": [-1]}],
        "parameters": {"content_type": "np", "workers": 2},
    }


def test_model_metadata_leaves_out_empty_parameters() -> None:
    meta = ModelMetadata("m", (), "", (), ())
    assert "parameters" not in orjson.loads(model_metadata_json(meta))


def test_server_metadata() -> None:
    server = ServerMetadata("loadmaster", "0.1.0", ("binary_tensor_data", "model_repository"))
    assert orjson.loads(server_metadata_json(server)) == {
        "name": "loadmaster",
        "version": "0.1.0",
        "extensions": ["binary_tensor_data", "model_repository"],
    }


def test_repository_index() -> None:
    entries = [RepositoryEntry("a", "1", "READY"), RepositoryEntry("b", "2", "UNAVAILABLE", "oom")]
    assert orjson.loads(repository_index_json(iter(entries))) == [
        {"name": "a", "version": "1", "state": "READY", "reason": ""},
        {"name": "b", "version": "2", "state": "UNAVAILABLE", "reason": "oom"},
    ]
    assert repository_index_json([]) == b"[]"
