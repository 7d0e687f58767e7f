"""tritonclient, over HTTP and gRPC, against a running agent; prints one JSON report line.

Run from the repository root (the agent must serve the models the integration test sets up:
`iris`, `echo-stream`, one echo model per datatype named by `samples.echo_model_name`, `broken`
whose load failed, and `spare`, present in the models directory but not loaded):

    python -m tests.integration.clients.triton_checks --http 127.0.0.1:8000 \
        --grpc 127.0.0.1:8001 --case http --case grpc --case stream [--storage-uri URI]

The report maps each case to its checks. Error checks record what the client raised (`status`,
`message`) and whether the same client could still infer afterwards (`serving_after`); the
pytest side decides what is right. This process imports tritonclient and nothing else that
registers `inference.*` protobuf messages.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from functools import partial
from typing import Any

import ml_dtypes
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

from tests.integration.clients.report import (
    Check,
    client_side,
    emit,
    guard,
    no_error,
    parse_args,
    run_checks,
)
from tests.integration.clients.samples import (
    BINARY_ONLY,
    DATATYPES,
    describe,
    echo_model_name,
    sample,
)

CASES = ("http", "grpc", "stream")
HEADER_LENGTH = "Inference-Header-Content-Length"
IRIS_ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
# 2**17 rows of FP32 [-1, 4] are 2 MiB: twice the agent's --max-body of 1 MiB.
OVER_LIMIT_ROWS = 2**17
FORGED_SHAPE = [10**11, 4]  # 1.6 TB of FP32 that the 16 bytes sent do not back
STREAM_TEXTS = (b"alpha", "\u03b2\u00eata".encode(), b"", "\U0001f600".encode())


def client_array(datatype: str, array: np.ndarray) -> np.ndarray:
    """tritonclient wants BF16 as `ml_dtypes.bfloat16`; the samples hold its bit patterns."""
    return array.view(ml_dtypes.bfloat16) if datatype == "BF16" else array


def server_error(call: Callable[[], object]) -> dict[str, Any]:
    """What `call` raised as tritonclient reports it; `status` is None for client-side errors."""
    try:
        call()
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    except Exception as exc:
        return client_side(exc)
    return no_error()


def guarded_errors(cases: dict[str, Callable[[], object]], serves: Callable[[], bool]) -> Any:
    """Each error case's record, with whether the client could infer right after it."""
    results: dict[str, Any] = {}
    for name, call in cases.items():
        record = server_error(call)
        record["serving_after"] = guard(serves)
        results[name] = record
    return results


# ---- HTTP ---------------------------------------------------------------------------------


def http_input(name: str, datatype: str, array: np.ndarray, *, binary: bool = True) -> Any:
    tensor = httpclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(client_array(datatype, array), binary_data=binary)
    return tensor


def http_reshaped(tensor: Any, shape: list[int]) -> Any:
    """The input claiming `shape` while it keeps the data it was given."""
    tensor.set_shape(shape)
    return tensor


def http_echoed(result: Any, datatype: str, output: str = "x") -> dict[str, Any]:
    response = result.get_response()
    entry = next(o for o in response["outputs"] if o["name"] == output)
    return {
        "id": response.get("id"),
        "datatype": entry["datatype"],
        "binary": "binary_data_size" in (entry.get("parameters") or {}),
        **describe(result.as_numpy(output), datatype),
    }


def http_echo(client: Any, datatype: str, *, binary: bool) -> dict[str, Any]:
    """Echo the datatype's sample: binary in and out, or JSON in and JSON asked for out."""
    array = sample(datatype, json_safe=not binary)
    tensor = http_input("x", datatype, array, binary=binary)
    outputs = None if binary else [httpclient.InferRequestedOutput("x", binary_data=False)]
    result = client.infer(
        echo_model_name(datatype), [tensor], outputs=outputs, request_id=f"echo-{datatype}"
    )
    return http_echoed(result, datatype)


def http_echo_as_json(client: Any, datatype: str) -> dict[str, Any]:
    """Send the full sample binary (infinities, NaN included) and ask for the output as JSON."""
    result = client.infer(
        echo_model_name(datatype),
        [http_input("x", datatype, sample(datatype))],
        outputs=[httpclient.InferRequestedOutput("x", binary_data=False)],
        request_id=f"as-json-{datatype}",
    )
    return http_echoed(result, datatype)


def http_compressed(client: Any, algorithm: str) -> dict[str, Any]:
    """An echo with the request body and the response compressed by `algorithm`."""
    result = client.infer(
        echo_model_name("FP64"),
        [http_input("x", "FP64", sample("FP64"))],
        request_compression_algorithm=algorithm,
        response_compression_algorithm=algorithm,
    )
    return describe(result.as_numpy("x"), "FP64")


def http_iris_serves(client: Any) -> bool:
    result = client.infer("iris", [http_input("input", "FP32", IRIS_ROWS)])
    probabilities = result.as_numpy("probabilities")
    return bool(probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1.0))


def http_index_entry(client: Any, name: str) -> list[dict[str, Any]]:
    return [e for e in client.get_model_repository_index() if e.get("name") == name]


def http_repository(client: Any) -> dict[str, Any]:
    """Load `spare` from the models directory, use it, unload it, and the refusals around."""
    array = sample("INT32")

    def echo() -> Any:
        return client.infer("spare", [http_input("x", "INT32", array)])

    report: dict[str, Any] = {"index_before": http_index_entry(client, "spare")}
    client.load_model("spare")
    report["ready_after_load"] = client.is_model_ready("spare")
    report["index_loaded"] = http_index_entry(client, "spare")
    report["echo"] = describe(echo().as_numpy("x"), "INT32")
    client.unload_model("spare")
    report["ready_after_unload"] = client.is_model_ready("spare")
    report["infer_after_unload"] = server_error(echo)
    report["index_after"] = http_index_entry(client, "spare")
    report["load_absent"] = server_error(lambda: client.load_model("absent"))
    report["unload_absent"] = server_error(lambda: client.unload_model("absent"))
    report["load_broken"] = server_error(lambda: client.load_model("broken"))
    report["broken_after_load"] = http_index_entry(client, "broken")
    # A model whose load failed can be unloaded; loading it again fails the same way, which
    # leaves `broken` as the other checks expect it.
    report["unload_broken"] = server_error(lambda: client.unload_model("broken"))
    report["broken_after_unload"] = http_index_entry(client, "broken")
    report["reload_broken"] = server_error(lambda: client.load_model("broken"))
    report["broken_after_reload"] = http_index_entry(client, "broken")
    return report


def http_errors(client: Any) -> Any:
    rows = IRIS_ROWS[:1]

    def iris(*tensors: Any, headers: dict[str, str] | None = None) -> Any:
        return client.infer("iris", list(tensors), headers=headers)

    def fp32(data: np.ndarray = rows, *, binary: bool = True) -> Any:
        return http_input("input", "FP32", data, binary=binary)

    two_texts = np.array([b"ab", b"c"], dtype=np.object_)
    cases: dict[str, Callable[[], object]] = {
        "forged_shape_binary": lambda: iris(http_reshaped(fp32(), FORGED_SHAPE)),
        "forged_shape_json": lambda: iris(http_reshaped(fp32(binary=False), FORGED_SHAPE)),
        "wrong_datatype": lambda: iris(http_input("input", "INT64", rows.astype(np.int64))),
        "wrong_size": lambda: iris(http_reshaped(fp32(), [2, 4])),
        "bytes_framing": lambda: client.infer(
            "echo-stream", [http_reshaped(http_input("text", "BYTES", two_texts), [3])]
        ),
        "header_length_beyond_body": lambda: iris(
            fp32(binary=False), headers={HEADER_LENGTH: "999999"}
        ),
        "malformed_json": lambda: iris(fp32(binary=False), headers={HEADER_LENGTH: "9"}),
        "over_limit": lambda: iris(fp32(np.zeros((OVER_LIMIT_ROWS, 4), dtype=np.float32))),
        # 2 MiB of zeros gzip to a few KiB: the limit must hold for the decompressed body.
        "over_limit_gzip": lambda: client.infer(
            "iris",
            [fp32(np.zeros((OVER_LIMIT_ROWS, 4), dtype=np.float32))],
            request_compression_algorithm="gzip",
        ),
        "unknown_model": lambda: client.infer("nope", [fp32()]),
        "model_not_ready": lambda: client.infer("broken", [fp32()]),
        "metadata_unknown_model": lambda: client.get_model_metadata("nope"),
        "metadata_not_ready": lambda: client.get_model_metadata("broken"),
    }
    return guarded_errors(cases, lambda: http_iris_serves(client))


def http_checks(address: str) -> dict[str, Check]:
    client = httpclient.InferenceServerClient(url=address, network_timeout=60.0)
    fp16_json = sample("FP16", json_safe=True)
    bf16 = sample("BF16")
    return {
        "health": lambda: {"live": client.is_server_live(), "ready": client.is_server_ready()},
        "server_metadata": lambda: client.get_server_metadata(),
        "model_metadata": lambda: client.get_model_metadata("iris"),
        "model_ready": lambda: {
            name: client.is_model_ready(name) for name in ("iris", "broken", "nope")
        },
        "echo_binary": lambda: {
            dt: guard(partial(http_echo, client, dt, binary=True)) for dt in DATATYPES
        },
        "echo_json": lambda: {
            dt: guard(partial(http_echo, client, dt, binary=False))
            for dt in DATATYPES
            if dt not in BINARY_ONLY
        },
        "json_refused": lambda: {
            "FP16": server_error(
                lambda: client.infer(
                    echo_model_name("FP16"), [http_input("x", "FP16", fp16_json, binary=False)]
                )
            ),
            "BF16": server_error(lambda: http_input("x", "BF16", bf16, binary=False)),
        },
        "echo_as_json": lambda: {
            dt: guard(partial(http_echo_as_json, client, dt)) for dt in ("FP32", "FP64")
        },
        "compressed": lambda: {
            algorithm: guard(partial(http_compressed, client, algorithm))
            for algorithm in ("gzip", "deflate")
        },
        "repository": lambda: http_repository(client),
        "errors": lambda: http_errors(client),
    }


# ---- gRPC ---------------------------------------------------------------------------------


def grpc_input(name: str, datatype: str, array: np.ndarray) -> Any:
    tensor = grpcclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(client_array(datatype, array))
    return tensor


def grpc_reshaped(tensor: Any, shape: list[int]) -> Any:
    tensor.set_shape(shape)
    return tensor


def grpc_echo(client: Any, datatype: str) -> dict[str, Any]:
    result = client.infer(
        echo_model_name(datatype),
        [grpc_input("x", datatype, sample(datatype))],
        request_id=f"echo-{datatype}",
    )
    response = result.get_response()
    return {
        "id": response.id,
        "datatype": response.outputs[0].datatype,
        **describe(result.as_numpy("x"), datatype),
    }


def grpc_iris_serves(client: Any) -> bool:
    result = client.infer("iris", [grpc_input("input", "FP32", IRIS_ROWS)])
    probabilities = result.as_numpy("probabilities")
    return bool(probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1.0))


def grpc_tensors(specs: Any) -> list[dict[str, Any]]:
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in specs]


def grpc_model_metadata(client: Any, name: str) -> dict[str, Any]:
    meta = client.get_model_metadata(name)
    return {
        "name": meta.name,
        "versions": list(meta.versions),
        "platform": meta.platform,
        "inputs": grpc_tensors(meta.inputs),
        "outputs": grpc_tensors(meta.outputs),
    }


def grpc_index_entry(client: Any, name: str) -> list[dict[str, Any]]:
    return [
        {"name": m.name, "version": m.version, "state": m.state, "reason": m.reason}
        for m in client.get_model_repository_index().models
        if m.name == name
    ]


def grpc_repository(client: Any, storage_uri: str) -> dict[str, Any]:
    array = sample("INT32")

    def echo(model: str) -> Any:
        return client.infer(model, [grpc_input("x", "INT32", array)])

    report: dict[str, Any] = {"index_before": grpc_index_entry(client, "spare")}
    client.load_model("spare")
    report["ready_after_load"] = client.is_model_ready("spare")
    report["index_loaded"] = grpc_index_entry(client, "spare")
    report["echo"] = describe(echo("spare").as_numpy("x"), "INT32")
    client.unload_model("spare")
    report["ready_after_unload"] = server_error(lambda: client.is_model_ready("spare"))
    report["infer_after_unload"] = server_error(lambda: echo("spare"))
    report["index_after"] = grpc_index_entry(client, "spare")
    report["load_absent"] = server_error(lambda: client.load_model("absent"))
    report["unload_absent"] = server_error(lambda: client.unload_model("absent"))
    report["load_broken"] = server_error(lambda: client.load_model("broken"))
    # tritonclient's load_model sends only `config` and `file:` parameters; its own stubs
    # carry a string `storage_uri` (RepositoryModelLoadRequest.parameters, field 3).
    request = service_pb2.RepositoryModelLoadRequest(model_name="spare-by-uri")
    request.parameters["storage_uri"].string_param = storage_uri
    client._client_stub.RepositoryModelLoad(request)
    report["by_uri_ready"] = client.is_model_ready("spare-by-uri")
    report["by_uri_echo"] = describe(echo("spare-by-uri").as_numpy("x"), "INT32")
    client.unload_model("spare-by-uri")
    report["by_uri_after_unload"] = grpc_index_entry(client, "spare-by-uri")
    return report


def grpc_errors(client: Any) -> Any:
    rows = IRIS_ROWS[:1]

    def iris(tensor: Any) -> Any:
        return client.infer("iris", [tensor])

    def fp32(data: np.ndarray = rows) -> Any:
        return grpc_input("input", "FP32", data)

    two_texts = np.array([b"ab", b"c"], dtype=np.object_)
    cases: dict[str, Callable[[], object]] = {
        "forged_shape": lambda: iris(grpc_reshaped(fp32(), FORGED_SHAPE)),
        "wrong_datatype": lambda: iris(grpc_input("input", "INT64", rows.astype(np.int64))),
        "wrong_size": lambda: iris(grpc_reshaped(fp32(), [2, 4])),
        "bytes_framing": lambda: client.infer(
            "echo-stream", [grpc_reshaped(grpc_input("text", "BYTES", two_texts), [3])]
        ),
        "over_limit": lambda: iris(fp32(np.zeros((OVER_LIMIT_ROWS, 4), dtype=np.float32))),
        "unknown_model": lambda: client.infer("nope", [fp32()]),
        "model_not_ready": lambda: client.infer("broken", [fp32()]),
        "metadata_unknown_model": lambda: client.get_model_metadata("nope"),
        "ready_unknown_model": lambda: client.is_model_ready("nope"),
    }
    return guarded_errors(cases, lambda: grpc_iris_serves(client))


def grpc_checks(address: str, storage_uri: str) -> dict[str, Check]:
    client = grpcclient.InferenceServerClient(url=address)

    def server_metadata() -> dict[str, Any]:
        meta = client.get_server_metadata()
        return {"name": meta.name, "version": meta.version, "extensions": list(meta.extensions)}

    return {
        "health": lambda: {"live": client.is_server_live(), "ready": client.is_server_ready()},
        "server_metadata": server_metadata,
        "model_metadata": lambda: grpc_model_metadata(client, "iris"),
        "model_ready": lambda: {name: client.is_model_ready(name) for name in ("iris", "broken")},
        "echo": lambda: {dt: guard(partial(grpc_echo, client, dt)) for dt in DATATYPES},
        "repository": lambda: grpc_repository(client, storage_uri),
        "errors": lambda: grpc_errors(client),
    }


def stream_checks(address: str) -> dict[str, Check]:
    """ModelStreamInfer through start_stream/async_stream_infer: every part, in order."""

    def run() -> list[dict[str, Any]]:
        client = grpcclient.InferenceServerClient(url=address)
        received: queue.Queue[dict[str, Any]] = queue.Queue()

        def on_reply(result: Any, error: Any) -> None:
            if error is not None:
                received.put({"error": error.message(), "status": error.status()})
                return
            response = result.get_response()
            texts = [repr(bytes(t)) for t in result.as_numpy("text").reshape(-1).tolist()]
            received.put({"id": response.id, "text": texts})

        def texts(items: tuple[bytes, ...]) -> Any:
            array = np.empty(len(items), dtype=np.object_)
            array[:] = items
            return grpc_input("text", "BYTES", array)

        client.start_stream(callback=on_reply)
        client.async_stream_infer("echo-stream", [texts(STREAM_TEXTS)], request_id="first")
        client.async_stream_infer("nope", [texts((b"lost",))], request_id="missing")
        client.async_stream_infer("echo-stream", [texts((b"x", b"yz"))], request_id="second")
        client.stop_stream()  # waits for every reply to the requests sent
        client.close()
        replies: list[dict[str, Any]] = []
        while not received.empty():
            replies.append(received.get_nowait())
        return replies

    return {"replies": run}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "", CASES, argv)
    report: dict[str, Any] = {}
    for case in args.case:
        if case == "http":
            report[case] = run_checks(http_checks(args.http))
        elif case == "grpc":
            report[case] = run_checks(grpc_checks(args.grpc, args.storage_uri))
        else:
            report[case] = run_checks(stream_checks(args.grpc))
    emit(report)


if __name__ == "__main__":
    main()
