"""http(s):// artifacts against a loopback server: download, failures, reuse, concurrency."""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path

import pytest

from agent.artifacts import ArtifactCache, ArtifactError, FetchResult
from agent.artifacts.digest import hash_directory, tree_digest
from tests.agent.artifacts.helpers import (
    FakeHttp,
    Member,
    Route,
    assert_cache_clean,
    entries_under,
    files_under,
    tar_bytes,
    zip_bytes,
)

WEIGHTS = b"pretend these are torch weights" * 100


def test_single_file_is_downloaded_into_a_directory(tmp_path: Path, http_server: FakeHttp) -> None:
    url = http_server.serve("/models/iris/model.pt", Route(WEIGHTS))

    result = ArtifactCache(tmp_path).fetch(url)

    assert files_under(result.path) == {"model.pt": WEIGHTS}
    assert result.digest == tree_digest({"model.pt": hashlib.sha256(WEIGHTS).hexdigest()})
    assert result.path == tmp_path / "objects" / result.digest
    assert result.cached is False
    assert result.download_s >= 0
    assert http_server.hits["/models/iris/model.pt"] == 1
    assert entries_under(tmp_path / "tmp") == []


def test_percent_encoded_file_name_is_decoded(tmp_path: Path, http_server: FakeHttp) -> None:
    url = http_server.serve("/m/my%20model.pt", Route(b"w"))
    assert files_under(ArtifactCache(tmp_path).fetch(url).path) == {"my model.pt": b"w"}


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("iris.tar.gz", tar_bytes([Member("iris/model.pt", b"w"), Member("iris/c.json", b"{}")])),
        ("iris.zip", zip_bytes([Member("iris/model.pt", b"w"), Member("iris/c.json", b"{}")])),
    ],
)
def test_archive_is_extracted(
    tmp_path: Path, http_server: FakeHttp, name: str, body: bytes
) -> None:
    url = http_server.serve(f"/{name}", Route(body))

    result = ArtifactCache(tmp_path).fetch(url)

    assert files_under(result.path) == {"c.json": b"{}", "model.pt": b"w"}
    assert result.digest == hash_directory(result.path)


def test_new_cache_instance_reuses_entry_without_downloading(
    tmp_path: Path, http_server: FakeHttp
) -> None:
    url = http_server.serve("/model.pt", Route(WEIGHTS))
    first = ArtifactCache(tmp_path).fetch(url)

    second = ArtifactCache(tmp_path).fetch(url)  # as after an agent restart

    assert http_server.hits["/model.pt"] == 1
    assert second == FetchResult(first.path, first.digest, second.download_s, cached=True)


def test_identical_content_from_two_uris_shares_one_object(
    tmp_path: Path, http_server: FakeHttp
) -> None:
    a = http_server.serve("/v1/model.pt", Route(WEIGHTS))
    b = http_server.serve("/v2/model.pt", Route(WEIGHTS))
    cache = ArtifactCache(tmp_path)

    first, second = cache.fetch(a), cache.fetch(b)

    assert second.path == first.path
    assert entries_under(tmp_path / "objects") == [first.digest, f"{first.digest}/model.pt"]
    assert len(entries_under(tmp_path / "uris")) == 2
    assert (http_server.hits["/v1/model.pt"], http_server.hits["/v2/model.pt"]) == (1, 1)


def test_same_bytes_under_another_name_is_another_object(
    tmp_path: Path, http_server: FakeHttp
) -> None:
    cache = ArtifactCache(tmp_path)
    first = cache.fetch(http_server.serve("/model.pt", Route(WEIGHTS)))
    second = cache.fetch(http_server.serve("/other.pt", Route(WEIGHTS)))
    assert first.digest != second.digest  # runtimes find files by name, so names count


@pytest.mark.parametrize(
    ("path", "route", "message"),
    [
        ("/missing.pt", Route(b"nope", status=404), "failed: HTTP 404"),
        ("/boom.pt", Route(b"", status=500), "failed: HTTP 500"),
        (
            "/dropped.pt",
            Route(WEIGHTS, drop_after=100),
            f"connection closed after 100 of {len(WEIGHTS)} bytes",
        ),
        (
            "/dropped.tar.gz",
            Route(tar_bytes([Member("m.pt", bytes(range(256)) * 40)]), drop_after=50),
            "connection closed after 50 of",
        ),
        ("/big.pt", Route(bytes(20_000)), "larger than the limit of 10000 bytes"),
        ("/big-unannounced.pt", Route(bytes(20_000), send_length=False), "larger than the limit"),
    ],
    ids=["404", "500", "dropped-file", "dropped-archive", "too-large", "too-large-streamed"],
)
def test_failed_download_leaves_no_entry(
    tmp_path: Path, http_server: FakeHttp, path: str, route: Route, message: str
) -> None:
    url = http_server.serve(path, route)

    with pytest.raises(ArtifactError) as caught:
        ArtifactCache(tmp_path, max_extracted_bytes=10_000).fetch(url)

    assert str(caught.value).startswith(f"download of {url} failed: ")
    assert message in str(caught.value)
    assert_cache_clean(tmp_path)


def test_stalled_server_times_out(tmp_path: Path, http_server: FakeHttp) -> None:
    url = http_server.serve("/slow.pt", Route(WEIGHTS, stall=True))
    with pytest.raises(ArtifactError, match="timed out"):
        ArtifactCache(tmp_path, http_timeout_s=0.2).fetch(url)
    assert_cache_clean(tmp_path)


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.pt"
    with pytest.raises(ArtifactError, match=f"download of {url} failed: .*refused"):
        ArtifactCache(tmp_path).fetch(url)
    assert_cache_clean(tmp_path)


def test_url_without_file_name_is_refused(tmp_path: Path, http_server: FakeHttp) -> None:
    with pytest.raises(ArtifactError, match="the URL path names no file"):
        ArtifactCache(tmp_path).fetch(http_server.url("/models/"))
    assert http_server.hits["/models/"] == 0


def test_failure_is_not_remembered(tmp_path: Path, http_server: FakeHttp) -> None:
    url = http_server.serve("/model.pt", Route(WEIGHTS, drop_after=10))
    with pytest.raises(ArtifactError):
        ArtifactCache(tmp_path).fetch(url)

    http_server.serve("/model.pt", Route(WEIGHTS))
    result = ArtifactCache(tmp_path).fetch(url)

    assert (result.cached, files_under(result.path)) == (False, {"model.pt": WEIGHTS})


def test_two_threads_fetching_one_uri_download_once(tmp_path: Path, http_server: FakeHttp) -> None:
    url = http_server.serve("/model.pt", Route(WEIGHTS, delay_s=0.1))
    cache = ArtifactCache(tmp_path)
    results = _fetch_concurrently([cache, cache], url)

    assert http_server.hits["/model.pt"] == 1
    assert sorted(r.cached for r in results) == [False, True]
    assert len({(r.path, r.digest) for r in results}) == 1


def test_two_caches_racing_on_one_root_stay_consistent(
    tmp_path: Path, http_server: FakeHttp
) -> None:
    """No shared lock here (think two processes): both download, one publish wins."""
    url = http_server.serve("/model.pt", Route(WEIGHTS, delay_s=0.1))
    results = _fetch_concurrently([ArtifactCache(tmp_path), ArtifactCache(tmp_path)], url)

    assert len({(r.path, r.digest) for r in results}) == 1
    assert files_under(results[0].path) == {"model.pt": WEIGHTS}
    assert len(entries_under(tmp_path / "objects")) == 2  # one directory, one file
    assert entries_under(tmp_path / "tmp") == []


def _fetch_concurrently(caches: list[ArtifactCache], url: str) -> list[FetchResult]:
    start = threading.Barrier(len(caches))
    results: list[FetchResult] = []
    errors: list[BaseException] = []

    def run(cache: ArtifactCache) -> None:
        start.wait()
        try:
            results.append(cache.fetch(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(results) == len(caches)
    return results
