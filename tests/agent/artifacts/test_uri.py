"""parse_storage_uri: which backend a storageUri names, and a precise refusal when unusable."""

from __future__ import annotations

import pytest

from agent.artifacts import ArtifactError, StorageUri, parse_storage_uri
from agent.artifacts.uri import Scheme


@pytest.mark.parametrize(
    ("text", "scheme", "location"),
    [
        ("/models/iris", "file", "/models/iris"),
        ("models/iris", "file", "models/iris"),
        ("./iris", "file", "./iris"),
        ("models/iris:v1", "file", "models/iris:v1"),  # a colon alone does not make a URI
        ("file:///models/iris", "file", "/models/iris"),
        ("file://localhost/models/iris", "file", "/models/iris"),
        ("file://models/iris", "file", "models/iris"),  # prefix form, as KServe reads it
        ("http://host/model.pt", "http", "http://host/model.pt"),
        ("https://host:8443/a/iris.tar.gz?x=1", "https", "https://host:8443/a/iris.tar.gz?x=1"),
        ("HTTPS://host/m.pt", "https", "HTTPS://host/m.pt"),
        ("s3://bucket/models/iris", "s3", "bucket/models/iris"),
        ("s3://bucket/models/iris/", "s3", "bucket/models/iris"),
        ("s3://bucket", "s3", "bucket"),
        ("S3://bucket/m.pt", "s3", "bucket/m.pt"),
    ],
)
def test_accepts(text: str, scheme: Scheme, location: str) -> None:
    assert parse_storage_uri(text) == StorageUri(scheme, location)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "storageUri is empty"),
        ("   ", "storageUri is empty"),
        (
            "ftp://x",
            "storageUri 'ftp://x': unsupported scheme 'ftp'; "
            "use a path, file://, http(s):// or s3://",
        ),
        ("gs://bucket/m", "unsupported scheme 'gs'"),
        (" /models/iris", "leading or trailing whitespace"),
        ("/models/ir\nis", "control character"),
        ("file://", "names no path"),
        ("http://", "names no host"),
        ("https:///model.pt", "names no host"),
        ("http://host:99999/m.pt", "invalid port"),
        ("http://host/my model.pt", "percent-encode"),
        ("s3://", "names no bucket"),
        ("s3:///key", "names no bucket"),
        ("s3:/bucket/key", "malformed; expected s3://"),
        ("http:host/m.pt", "malformed; expected http://"),
    ],
)
def test_refuses(text: str, message: str) -> None:
    with pytest.raises(ArtifactError) as caught:
        parse_storage_uri(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("/m", "file:///m"),
        ("file:///m", "file:///m"),
        ("https://h/m.pt", "https://h/m.pt"),
        ("s3://b/k/", "s3://b/k"),
    ],
)
def test_canonical_spelling(text: str, canonical: str) -> None:
    assert parse_storage_uri(text).canonical == canonical
