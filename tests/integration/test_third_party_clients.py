"""Third-party OIP clients against a real agent: tritonclient (HTTP and gRPC) and the KServe SDK.

tritonclient, the KServe SDK and our own stubs each register `inference.*` protobuf messages,
and two of them in one process fail with "duplicate symbol" (brief §7). So this module never
imports a client: each client runs in its own process (`tests/integration/clients/`), does a
group of checks, and prints one JSON report; the tests here assert on those reports. Three
launches in all, each once per module (fixtures), shared by the tests that read them.

The agent serves `iris`, `echo-stream`, one echo model per OIP datatype (`echo-<type>`: input
`x` → output `x`, shape [-1, -1]), `broken` (a `model.pt` of garbage: its load failed at
start-up, so it is known but not ready) and, added after start-up, `spare` (in the models
directory, not loaded) for the repository calls. Its body limit is 1 MiB.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.clients.report import REPORT_PREFIX
from tests.integration.clients.samples import (
    BINARY_ONLY,
    DATATYPES,
    describe,
    echo_model_name,
    sample,
)
from tests.integration.harness import ROOT, AgentProcess, http_json, start_agent

pytestmark = pytest.mark.integration

ECHO_MODEL = '''
class Echo:
    """Answers its input `x` unchanged (BF16 arrives and leaves as its 16-bit patterns)."""

    def predict(self, inputs, parameters):
        return {"x": inputs["x"]}
'''
NOT_TORCHSCRIPT = b"these bytes are not a TorchScript archive"
JSON_TYPES = tuple(dt for dt in DATATYPES if dt not in BINARY_ONLY)
# The KServe SDK maps no numpy dtype to BF16, so it cannot send or read one.
KSERVE_BINARY_TYPES = tuple(dt for dt in DATATYPES if dt != "BF16")


def write_echo_model(model_dir: Path, datatype: str) -> None:
    model_dir.mkdir(parents=True)
    (model_dir / "echo.py").write_text(textwrap.dedent(ECHO_MODEL))
    spec = f"{{name: x, datatype: {datatype}, shape: [-1, -1]}}"
    settings = f"implementation: echo:Echo\ninputs:\n  - {spec}\noutputs:\n  - {spec}\n"
    (model_dir / "model-settings.yaml").write_text(settings)


@pytest.fixture(scope="module")
def client_models(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("client-models")
    for name in ("iris", "echo-stream"):
        shutil.copytree(models_dir / name, root / name)
    for datatype in DATATYPES:
        write_echo_model(root / echo_model_name(datatype), datatype)
    (root / "broken").mkdir()
    (root / "broken" / "model.pt").write_bytes(NOT_TORCHSCRIPT)
    return root


@pytest.fixture(scope="module")
def spare_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An INT32 echo model outside the models directory, loaded by `storage_uri`."""
    model_dir = tmp_path_factory.mktemp("elsewhere") / "spare"
    write_echo_model(model_dir, "INT32")
    return model_dir.as_uri()


@pytest.fixture(scope="module")
def client_agent(
    client_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    work = tmp_path_factory.mktemp("client-agent")
    agent = start_agent(work, client_models, "--max-body", "1Mi")
    write_echo_model(client_models / "spare", "INT32")  # after start-up: known, not loaded
    yield agent
    agent.stop()


def run_client(
    module: str, agent: AgentProcess, cases: tuple[str, ...], *extra: str
) -> dict[str, Any]:
    """Run `python -m tests.integration.clients.<module>` for `cases`; its JSON report."""
    command = [
        sys.executable, "-m", f"tests.integration.clients.{module}",
        "--http", f"127.0.0.1:{agent.http_port}", "--grpc", agent.grpc_target,
        *[arg for case in cases for arg in ("--case", case)], *extra,
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    reports = [line for line in done.stdout.splitlines() if line.startswith(REPORT_PREFIX)]
    assert done.returncode == 0 and len(reports) == 1, (
        f"{module} exited with {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    )
    report: dict[str, Any] = json.loads(reports[0][len(REPORT_PREFIX) :])
    return report


@pytest.fixture(scope="module")
def triton_http(client_agent: AgentProcess) -> dict[str, Any]:
    report: dict[str, Any] = run_client("triton_checks", client_agent, ("http",))["http"]
    return report


@pytest.fixture(scope="module")
def triton_grpc(client_agent: AgentProcess, spare_uri: str) -> dict[str, Any]:
    cases = ("grpc", "stream")
    return run_client("triton_checks", client_agent, cases, "--storage-uri", spare_uri)


@pytest.fixture(scope="module")
def kserve(client_agent: AgentProcess) -> dict[str, Any]:
    return run_client("kserve_checks", client_agent, ("rest", "grpc"))


def expected(datatype: str, **options: bool) -> dict[str, Any]:
    return describe(sample(datatype, **options), datatype)


def assert_error(record: dict[str, Any], status: str, *fragments: str) -> None:
    """The client saw the server's error: its status, a message naming the problem, and the
    same client could infer right afterwards."""
    assert record["status"] == status, record
    message = record["message"].lower()
    for fragment in fragments:
        assert fragment.lower() in message, record
    assert record["serving_after"] is True, record


IRIS_METADATA = {
    "name": "iris",
    "platform": "pytorch_torchscript",
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
    "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}],
}
NOT_READY = ("model 'broken' is not ready", "loadfailed", "model.pt")


# ---- tritonclient.http ----------------------------------------------------------------------


def test_triton_http_health_and_metadata(triton_http: dict[str, Any]) -> None:
    assert triton_http["health"] == {"live": True, "ready": True}
    server = triton_http["server_metadata"]
    assert server["name"] == "loadmaster"
    assert {"binary_tensor_data", "model_repository", "streaming"} <= set(server["extensions"])
    model = triton_http["model_metadata"]
    assert {key: model[key] for key in IRIS_METADATA} == IRIS_METADATA
    assert model["versions"] and all(isinstance(v, str) for v in model["versions"])
    assert triton_http["model_ready"] == {"iris": True, "broken": False, "nope": False}


def test_triton_http_echoes_every_datatype_binary(triton_http: dict[str, Any]) -> None:
    want = {
        dt: {"id": f"echo-{dt}", "datatype": dt, "binary": True, **expected(dt)} for dt in DATATYPES
    }
    assert triton_http["echo_binary"] == want


def test_triton_http_echoes_every_json_datatype_as_json(triton_http: dict[str, Any]) -> None:
    """JSON in, JSON asked for and JSON back, for every datatype JSON can carry; BYTES with
    non-ASCII, empty and NUL-holding elements."""
    want = {
        dt: {"id": f"echo-{dt}", "datatype": dt, "binary": False, **expected(dt, json_safe=True)}
        for dt in JSON_TYPES
    }
    assert triton_http["echo_json"] == want


def test_fp16_and_bf16_as_json_are_refused_clearly(
    triton_http: dict[str, Any], client_agent: AgentProcess
) -> None:
    refused = triton_http["json_refused"]
    fp16 = refused["FP16"]
    assert fp16["status"] == "400" and "fp16" in fp16["message"].lower(), fp16
    assert "binary" in fp16["message"], fp16
    # tritonclient will not even send BF16 as JSON; the server refuses it too.
    assert refused["BF16"]["status"] is None and "binary" in refused["BF16"]["message"]
    body = {"inputs": [{"name": "x", "datatype": "BF16", "shape": [1, 1], "data": [1.0]}]}
    url = client_agent.url(f"/v2/models/{echo_model_name('BF16')}/infer")
    status, answer = http_json("POST", url, json.dumps(body).encode())
    assert status == 400 and "BF16 travels only as binary" in answer["error"], answer


def test_triton_http_non_finite_floats_asked_as_json_come_back_exact(
    triton_http: dict[str, Any],
) -> None:
    """Binary in (with inf, -inf, NaN), JSON asked for out. JSON has no infinity, so the
    server must send these binary, as it does for FP16 and non-UTF-8 BYTES; writing `null`
    turns both infinities into NaN at the client."""
    echoed = triton_http["echo_as_json"]
    for dt in ("FP32", "FP64"):
        assert {k: echoed[dt].get(k) for k in ("shape", "values")} == expected(dt), dt


def test_triton_http_compressed_bodies(triton_http: dict[str, Any]) -> None:
    assert triton_http["compressed"] == {"gzip": expected("FP64"), "deflate": expected("FP64")}


def test_triton_http_repository_index_load_and_unload(triton_http: dict[str, Any]) -> None:
    repo = triton_http["repository"]
    not_loaded = [{"name": "spare", "version": "", "state": "UNAVAILABLE", "reason": "not loaded"}]
    assert repo["index_before"] == not_loaded
    assert repo["ready_after_load"] is True
    assert [(e["state"], e["reason"]) for e in repo["index_loaded"]] == [("READY", "Available")]
    assert repo["echo"] == expected("INT32")
    assert repo["ready_after_unload"] is False
    assert repo["infer_after_unload"] == {"status": "404", "message": "model 'spare' not found"}
    assert repo["index_after"] == not_loaded
    assert repo["load_absent"]["status"] == "404" and "absent" in repo["load_absent"]["message"]
    assert repo["unload_absent"] == {"status": "404", "message": "model 'absent' not found"}
    load_broken = repo["load_broken"]
    assert load_broken["status"] == "400" and "'broken' failed to load" in load_broken["message"]
    assert repo["unload_broken"] == {"status": None, "message": "the call succeeded"}
    assert [e["reason"] for e in repo["broken_after_unload"]] == ["not loaded"]
    assert repo["reload_broken"]["status"] == "400"
    assert [e["state"] for e in repo["broken_after_reload"]] == ["UNAVAILABLE"]


def test_failed_load_retries_do_not_pile_up_in_the_index(triton_http: dict[str, Any]) -> None:
    """Loading `broken` again after its start-up load failed fails again; the index must still
    list `broken` once (its latest failure), not once per attempt."""
    entries = triton_http["repository"]["broken_after_load"]
    assert [(e["name"], e["state"]) for e in entries] == [("broken", "UNAVAILABLE")], entries
    assert "model.pt" in entries[0]["reason"]


TRITON_HTTP_ERRORS = {
    "forged_shape_binary": ("400", "[100000000000, 4]", "16"),
    "forged_shape_json": ("400", "[100000000000, 4]", "got 4"),
    "wrong_datatype": ("400", "fp32", "int64"),
    "wrong_size": ("400", "[2, 4]", "32 bytes", "got 16"),
    "bytes_framing": ("400", "input 'text'", "3 bytes elements"),
    "header_length_beyond_body": ("400", "inference-header-content-length", "999999"),
    "malformed_json": ("400", "not valid json"),
    "over_limit": ("413", "exceeds", "1048576"),
    "over_limit_gzip": ("413", "too large"),
    "unknown_model": ("404", "model 'nope' not found"),
    "model_not_ready": ("503", *NOT_READY),
    "metadata_unknown_model": ("404", "model 'nope' not found"),
    "metadata_not_ready": ("503", *NOT_READY),
}


@pytest.mark.parametrize("case", TRITON_HTTP_ERRORS)
def test_triton_http_errors_carry_the_status_and_message(
    triton_http: dict[str, Any], case: str
) -> None:
    status, *fragments = TRITON_HTTP_ERRORS[case]
    assert_error(triton_http["errors"][case], status, *fragments)


def test_triton_http_ran_every_error_case(triton_http: dict[str, Any]) -> None:
    assert set(triton_http["errors"]) == set(TRITON_HTTP_ERRORS)


# ---- tritonclient.grpc ----------------------------------------------------------------------


def test_triton_grpc_health_and_metadata(triton_grpc: dict[str, Any]) -> None:
    checks = triton_grpc["grpc"]
    assert checks["health"] == {"live": True, "ready": True}
    assert checks["server_metadata"]["name"] == "loadmaster"
    assert "model_repository" in checks["server_metadata"]["extensions"]
    model = checks["model_metadata"]
    assert {key: model[key] for key in IRIS_METADATA} == IRIS_METADATA
    assert model["versions"]
    assert checks["model_ready"] == {"iris": True, "broken": False}


def test_triton_grpc_echoes_every_datatype(triton_grpc: dict[str, Any]) -> None:
    want = {dt: {"id": f"echo-{dt}", "datatype": dt, **expected(dt)} for dt in DATATYPES}
    assert triton_grpc["grpc"]["echo"] == want


def test_triton_grpc_repository_index_load_and_unload(triton_grpc: dict[str, Any]) -> None:
    repo = triton_grpc["grpc"]["repository"]
    not_loaded = [{"name": "spare", "version": "", "state": "UNAVAILABLE", "reason": "not loaded"}]
    assert repo["index_before"] == not_loaded
    assert repo["ready_after_load"] is True
    assert [e["state"] for e in repo["index_loaded"]] == ["READY"]
    assert repo["echo"] == expected("INT32")
    unknown = {"status": "StatusCode.NOT_FOUND", "message": "model 'spare' not found"}
    assert repo["ready_after_unload"] == unknown
    assert repo["infer_after_unload"] == unknown
    assert repo["index_after"] == not_loaded
    assert repo["load_absent"]["status"] == "StatusCode.NOT_FOUND"
    assert repo["unload_absent"]["status"] == "StatusCode.NOT_FOUND"
    assert repo["load_broken"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "'broken' failed to load" in repo["load_broken"]["message"]
    # Loaded by storage_uri through tritonclient's own RepositoryModelLoadRequest.
    assert repo["by_uri_ready"] is True
    assert repo["by_uri_echo"] == expected("INT32")
    assert repo["by_uri_after_unload"] == []


TRITON_GRPC_ERRORS = {
    "forged_shape": ("INVALID_ARGUMENT", "[100000000000, 4]", "got 16"),
    "wrong_datatype": ("INVALID_ARGUMENT", "fp32", "int64"),
    "wrong_size": ("INVALID_ARGUMENT", "[2, 4]", "32 bytes", "got 16"),
    "bytes_framing": ("INVALID_ARGUMENT", "input 'text'", "3 bytes elements"),
    "over_limit": ("RESOURCE_EXHAUSTED", "larger than max", "1048576"),
    "unknown_model": ("NOT_FOUND", "model 'nope' not found"),
    "model_not_ready": ("UNAVAILABLE", *NOT_READY),
    "metadata_unknown_model": ("NOT_FOUND", "model 'nope' not found"),
    "ready_unknown_model": ("NOT_FOUND", "model 'nope' not found"),
}


@pytest.mark.parametrize("case", TRITON_GRPC_ERRORS)
def test_triton_grpc_errors_carry_the_status_and_message(
    triton_grpc: dict[str, Any], case: str
) -> None:
    code, *fragments = TRITON_GRPC_ERRORS[case]
    assert_error(triton_grpc["grpc"]["errors"][case], f"StatusCode.{code}", *fragments)


def test_triton_grpc_ran_every_error_case(triton_grpc: dict[str, Any]) -> None:
    assert set(triton_grpc["grpc"]["errors"]) == set(TRITON_GRPC_ERRORS)


def test_triton_grpc_stream_answers_every_part_in_order(triton_grpc: dict[str, Any]) -> None:
    """Three requests on one stream: four parts, an error for the unknown model alone (the
    stream goes on), then two parts; BYTES parts keep non-ASCII and empty elements."""
    first = [b"alpha", "\u03b2\u00eata".encode(), b"", "\U0001f600".encode()]
    want: list[dict[str, Any]] = [{"id": "first", "text": [repr(text)]} for text in first]
    want.append({"error": "model 'nope' not found", "status": None})
    want += [{"id": "second", "text": [repr(text)]} for text in (b"x", b"yz")]
    assert triton_grpc["stream"]["replies"] == want


# ---- KServe SDK -----------------------------------------------------------------------------


def test_kserve_rest_health_and_readiness(kserve: dict[str, Any]) -> None:
    rest = kserve["rest"]
    assert rest["health"] == {"live": True, "ready": True}
    assert rest["model_ready"] == {"iris": True, "broken": False, "nope": False}


def test_kserve_rest_echoes_every_datatype_as_json(kserve: dict[str, Any]) -> None:
    want = {
        dt: {"id": f"echo-{dt}", "datatype": dt, **expected(dt, json_safe=True)}
        for dt in JSON_TYPES
    }
    assert kserve["rest"]["echo_json"] == want


def test_kserve_rest_echoes_every_datatype_binary(kserve: dict[str, Any]) -> None:
    want = {
        dt: {"id": f"echo-{dt}", "datatype": dt, **expected(dt, utf8_only=True)}
        for dt in KSERVE_BINARY_TYPES
    }
    assert kserve["rest"]["echo_binary"] == want


KSERVE_REST_ERRORS = {
    "unknown_model": ("404", "model 'nope' not found"),
    "model_not_ready": ("503", *NOT_READY),
    "forged_shape_json": ("400", "[100000000000, 4]", "got 4"),
    "forged_shape_binary": ("400", "[100000000000, 4]", "got 16"),
    "wrong_datatype": ("400", "fp32", "int64"),
}


@pytest.mark.parametrize("case", KSERVE_REST_ERRORS)
def test_kserve_rest_errors_carry_the_status_and_message(kserve: dict[str, Any], case: str) -> None:
    status, *fragments = KSERVE_REST_ERRORS[case]
    assert_error(kserve["rest"]["errors"][case], status, *fragments)


def test_kserve_grpc_health_and_readiness(kserve: dict[str, Any]) -> None:
    checks = kserve["grpc"]
    assert checks["health"] == {"live": True, "ready": True}
    assert checks["model_ready"] == {"iris": True, "broken": False}


def test_kserve_grpc_echoes_every_datatype(kserve: dict[str, Any]) -> None:
    want = {
        dt: {"id": f"echo-{dt}", "datatype": dt, **expected(dt, utf8_only=True)}
        for dt in KSERVE_BINARY_TYPES
    }
    assert kserve["grpc"]["echo"] == want


KSERVE_GRPC_ERRORS = {
    "unknown_model": ("NOT_FOUND", "model 'nope' not found"),
    "model_not_ready": ("UNAVAILABLE", *NOT_READY),
    "forged_shape": ("INVALID_ARGUMENT", "[100000000000, 4]", "got 16"),
    "wrong_datatype": ("INVALID_ARGUMENT", "fp32", "int64"),
    "ready_unknown_model": ("NOT_FOUND", "model 'nope' not found"),
}


@pytest.mark.parametrize("case", KSERVE_GRPC_ERRORS)
def test_kserve_grpc_errors_carry_the_status_and_message(kserve: dict[str, Any], case: str) -> None:
    code, *fragments = KSERVE_GRPC_ERRORS[case]
    assert_error(kserve["grpc"]["errors"][case], code, *fragments)


# ---- afterwards ---------------------------------------------------------------------------


def test_the_agent_served_every_client_without_a_fault(
    client_agent: AgentProcess,
    triton_http: dict[str, Any],
    triton_grpc: dict[str, Any],
    kserve: dict[str, Any],
) -> None:
    """After every client and every bad request: still running, still ready, and no request
    was answered as a server fault (the agent logs each 500 / INTERNAL as "unhandled")."""
    assert client_agent.process.poll() is None
    assert http_json("GET", client_agent.url("/v2/health/ready")) == (200, {"ready": True})
    assert "unhandled" not in client_agent.log()


def test_this_process_never_imported_a_protobuf_client(kserve: dict[str, Any]) -> None:
    """The gRPC clients ran elsewhere: in here their `inference.*` messages would clash with
    ours (§7). (tritonclient.http registers no protobuf, so other tests may import it.)"""
    assert "tritonclient.grpc" not in sys.modules
    assert "kserve" not in sys.modules
