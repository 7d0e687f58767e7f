"""The KServe SDK's inference clients against a running agent; prints one JSON report line.

Run from the repository root, against an agent serving the models the integration test sets
up (see `triton_checks`):

    python -m tests.integration.clients.kserve_checks --http 127.0.0.1:8000 \
        --grpc 127.0.0.1:8001 --case rest --case grpc

`InferenceRESTClient(RESTConfig(protocol="v2"))` and `InferenceGRPCClient` are asyncio
clients. The SDK maps no numpy dtype to BF16 (`to_np_dtype("BF16")` is None), so BF16 is left
to tritonclient; its REST decoder turns binary BYTES into `str`, so BYTES samples stay UTF-8.
This process imports the KServe SDK and nothing else that registers `inference.*` messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import grpc
import httpx
import numpy as np

from tests.integration.clients.kserve_sdk import (
    InferenceGRPCClient,
    InferenceRESTClient,
    InferInput,
    InferRequest,
    RequestedOutput,
    RESTConfig,
)
from tests.integration.clients.report import (
    Check,
    client_side,
    emit,
    no_error,
    parse_args,
    run_checks,
)
from tests.integration.clients.samples import BINARY_ONLY, DATATYPES, describe, echo_model_name
from tests.integration.clients.samples import sample as make_sample

CASES = ("rest", "grpc")
IRIS_ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
FORGED_SHAPE = [10**11, 4]
# What each mode can carry: the SDK has no BF16; its JSON encoder refuses FP16.
REST_JSON_TYPES = tuple(dt for dt in DATATYPES if dt not in BINARY_ONLY)
BINARY_TYPES = tuple(dt for dt in DATATYPES if dt != "BF16")


def sample(datatype: str, *, json_safe: bool) -> np.ndarray:
    return make_sample(datatype, json_safe=json_safe, utf8_only=True)


def tensor(name: str, datatype: str, array: np.ndarray, *, binary: bool) -> InferInput:
    result = InferInput(name, list(array.shape), datatype)
    result.set_data_from_numpy(array, binary_data=binary)
    return result


def forged(array: np.ndarray, *, binary: bool) -> InferInput:
    """An iris input that claims FORGED_SHAPE while it carries one row."""
    result = tensor("input", "FP32", array, binary=binary)
    result.shape = FORGED_SHAPE
    return result


def echoed(response: Any, datatype: str) -> dict[str, Any]:
    output = response.outputs[0]
    return {
        "id": response.id,
        "datatype": output.datatype,
        **describe(output.as_numpy(), datatype),
    }


async def guarded(work: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await work()
    except Exception as exc:
        return {"unexpected_error": f"{type(exc).__name__}: {exc}"}


async def rest_error(work: Callable[[], Awaitable[object]]) -> dict[str, Any]:
    """What `work` raised as the SDK reports it: the HTTP status (as text, like tritonclient's)
    and the exception text, which quotes the server's error."""
    try:
        await work()
    except httpx.HTTPStatusError as exc:
        return {"status": str(exc.response.status_code), "message": str(exc)}
    except Exception as exc:
        return client_side(exc)
    return no_error()


async def grpc_error(work: Callable[[], Awaitable[object]]) -> dict[str, Any]:
    try:
        await work()
    except grpc.aio.AioRpcError as exc:
        return {"status": exc.code().name, "message": exc.details()}
    except Exception as exc:
        return client_side(exc)
    return no_error()


async def rest_checks(address: str) -> dict[str, Any]:
    base = f"http://{address}"
    async with InferenceRESTClient(RESTConfig(protocol="v2", timeout=60)) as client:

        async def echo(datatype: str, *, binary: bool) -> dict[str, Any]:
            array = sample(datatype, json_safe=not binary)
            request = InferRequest(
                model_name=echo_model_name(datatype),
                infer_inputs=[tensor("x", datatype, array, binary=binary)],
                request_id=f"echo-{datatype}",
                parameters={"binary_data_output": True} if binary else None,
                request_outputs=[RequestedOutput("x", {"binary_data": binary})],
            )
            response = await client.infer(base, request, model_name=echo_model_name(datatype))
            return echoed(response, datatype)

        async def iris(*inputs: InferInput, model: str = "iris") -> Any:
            request = InferRequest(model_name=model, infer_inputs=list(inputs))
            return await client.infer(base, request, model_name=model)

        async def serves() -> bool:
            response = await iris(tensor("input", "FP32", IRIS_ROWS, binary=False))
            probabilities = response.outputs[0].as_numpy()
            return bool(probabilities.shape == (2, 3) and np.allclose(probabilities.sum(1), 1))

        rows = IRIS_ROWS[:1]
        one_row = tensor("input", "FP32", rows, binary=False)
        error_cases: dict[str, Callable[[], Awaitable[object]]] = {
            "unknown_model": lambda: iris(one_row, model="nope"),
            "model_not_ready": lambda: iris(one_row, model="broken"),
            "forged_shape_json": lambda: iris(forged(rows, binary=False)),
            "forged_shape_binary": lambda: iris(forged(rows, binary=True)),
            "wrong_datatype": lambda: iris(
                tensor("input", "INT64", rows.astype(np.int64), binary=False)
            ),
        }
        errors: dict[str, Any] = {}
        for name, work in error_cases.items():
            errors[name] = await rest_error(work)
            errors[name]["serving_after"] = await guarded(serves)
        return {
            "health": {
                "live": await guarded(lambda: client.is_server_live(base)),
                "ready": await guarded(lambda: client.is_server_ready(base)),
            },
            "model_ready": {
                name: await guarded(partial(client.is_model_ready, base, name))
                for name in ("iris", "broken", "nope")
            },
            "echo_json": {
                dt: await guarded(partial(echo, dt, binary=False)) for dt in REST_JSON_TYPES
            },
            "echo_binary": {
                dt: await guarded(partial(echo, dt, binary=True)) for dt in BINARY_TYPES
            },
            "errors": errors,
        }


async def grpc_checks(address: str) -> dict[str, Any]:
    client = InferenceGRPCClient(address, timeout=60)
    try:

        async def infer(model: str, *inputs: InferInput, request_id: str = "") -> Any:
            request = InferRequest(model, list(inputs), request_id=request_id or None)
            return await client.infer(request)

        async def echo(datatype: str) -> dict[str, Any]:
            array = sample(datatype, json_safe=False)
            model = echo_model_name(datatype)
            response = await infer(
                model, tensor("x", datatype, array, binary=True), request_id=f"echo-{datatype}"
            )
            return echoed(response, datatype)

        async def serves() -> bool:
            response = await infer("iris", tensor("input", "FP32", IRIS_ROWS, binary=True))
            probabilities = response.outputs[0].as_numpy()
            return bool(probabilities.shape == (2, 3) and np.allclose(probabilities.sum(1), 1))

        rows = IRIS_ROWS[:1]
        error_cases: dict[str, Callable[[], Awaitable[object]]] = {
            "unknown_model": lambda: infer("nope", tensor("input", "FP32", rows, binary=True)),
            "model_not_ready": lambda: infer("broken", tensor("input", "FP32", rows, binary=True)),
            "forged_shape": lambda: infer("iris", forged(rows, binary=True)),
            "wrong_datatype": lambda: infer(
                "iris", tensor("input", "INT64", rows.astype(np.int64), binary=True)
            ),
            "ready_unknown_model": lambda: client.is_model_ready("nope"),
        }
        errors: dict[str, Any] = {}
        for name, work in error_cases.items():
            errors[name] = await grpc_error(work)
            errors[name]["serving_after"] = await guarded(serves)
        return {
            "health": {
                "live": await guarded(client.is_server_live),
                "ready": await guarded(client.is_server_ready),
            },
            "model_ready": {
                name: await guarded(partial(client.is_model_ready, name))
                for name in ("iris", "broken")
            },
            "echo": {dt: await guarded(partial(echo, dt)) for dt in BINARY_TYPES},
            "errors": errors,
        }
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "", CASES, argv)
    checks: dict[str, Check] = {}
    for case in args.case:
        if case == "rest":
            checks[case] = lambda: asyncio.run(rest_checks(args.http))
        else:
            checks[case] = lambda: asyncio.run(grpc_checks(args.grpc))
    emit(run_checks(checks))


if __name__ == "__main__":
    main()
