"""The REST front door end to end: a real client, the gateway on loopback, fake agents behind.

The route table is set directly (no scheduler). What is checked is what clients read: statuses,
`{"error": ...}` messages, bodies byte for byte, headers, and the metrics counted.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest

import loadmaster
from tests.gateway.fakes import HEADER_LENGTH, WAIT_S, closed_port, until
from tests.gateway.rig import LIMIT, Rig, endpoint, make_rig, route

INFER = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0]}]}


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for made in make_rig():
        yield made


async def answer(response: aiohttp.ClientResponse) -> tuple[int, dict[str, object]]:
    return response.status, json.loads(await response.read())


async def test_health_and_server_metadata(rig: Rig) -> None:
    async with rig.client.get(f"{rig.url}/v2/health/live") as r:
        assert await answer(r) == (200, {"live": True})
    async with rig.client.get(f"{rig.url}/v2/health/ready") as r:
        assert await answer(r) == (503, {"ready": False})
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
        status, body = await answer(r)
        assert status == 503 and "no route table from the scheduler" in str(body["error"])
    rig.routes()
    async with rig.client.get(f"{rig.url}/v2/health/ready") as r:
        assert await answer(r) == (200, {"ready": True})
    async with rig.client.get(f"{rig.url}/v2") as r:
        status, body = await answer(r)
    assert status == 200
    assert body["name"] == "loadmaster-gateway" and body["version"] == loadmaster.__version__
    assert "binary_tensor_data" in body["extensions"]  # type: ignore[operator]


async def test_json_infer_is_proxied_unversioned_as_the_client_sent_it(rig: Rig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", endpoint(a, 3)))
    raw = json.dumps(INFER).encode()
    async with rig.client.post(
        f"{rig.url}/v2/models/iris/infer?trace=1",
        data=raw,
        headers={"Content-Type": "application/json", "traceparent": "00-ab-cd-01"},
    ) as r:
        status, body = await answer(r)
        assert r.headers["Content-Type"].startswith("application/json")
        request_id = r.headers["x-request-id"]
    # Unversioned stays unversioned: the agent serves its newest Available version, which a
    # local roll may have changed before the route table says so.
    assert status == 200 and body == {"server": "a", "path": "/v2/models/iris/infer"}
    [seen] = a.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/v2/models/iris/infer?trace=1", raw)
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["traceparent"] == "00-ab-cd-01"
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # created by the gateway
    assert seen.headers["x-request-id"] == request_id


async def test_binary_extension_passes_byte_for_byte(rig: Rig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", endpoint(a)))
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [2],
                    "parameters": {"binary_data_size": 8},
                }
            ]
        }
    ).encode()
    raw = header + struct.pack("<2f", 1.5, -2.0) + b"\x00\xff"
    async with rig.client.post(
        f"{rig.url}/v2/models/iris/infer",
        data=raw,
        headers={HEADER_LENGTH: str(len(header)), "x-request-id": "client-7"},
        skip_auto_headers=["Content-Type"],  # as tritonclient sends it
    ) as r:
        assert r.status == 200
        assert await r.read() == raw
        assert r.headers[HEADER_LENGTH] == str(len(header))
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.headers["x-request-id"] == "client-7"
    [seen] = a.seen
    assert seen.body == raw
    assert seen.headers[HEADER_LENGTH] == str(len(header))
    assert "Content-Type" not in seen.headers
    assert seen.headers["x-request-id"] == "client-7"


async def test_unknown_model_is_404_with_the_request_id(rig: Rig) -> None:
    rig.routes()
    async with rig.client.post(
        f"{rig.url}/v2/models/nope/infer", json=INFER, headers={"x-request-id": "r-1"}
    ) as r:
        assert await answer(r) == (404, {"error": "model 'nope' not found"})
        assert r.headers["x-request-id"] == "r-1"
    async with rig.client.get(f"{rig.url}/v2/nothing/here") as r:
        status, body = await answer(r)
        assert status == 404 and "GET /v2/nothing/here" in str(body["error"])
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


async def test_no_ready_replica_is_503_with_state_and_reason(rig: Rig) -> None:
    rig.routes(route("iris", state="ModelProgressing", reason="loading on a"))
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
        assert await answer(r) == (
            503,
            {"error": "model 'iris' has no ready replica (ModelProgressing: loading on a)"},
        )
    async with rig.client.get(f"{rig.url}/v2/models/iris/ready") as r:
        status, body = await answer(r)
        assert status == 503 and body["ready"] is False and body["name"] == "iris"


async def test_versioned_routes(rig: Rig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    rig.routes(route("iris", endpoint(a, 1), endpoint(b, 2)))
    async with rig.client.post(f"{rig.url}/v2/models/iris/versions/1/infer", json=INFER) as r:
        assert await answer(r) == (200, {"server": "a", "path": "/v2/models/iris/versions/1/infer"})
    async with rig.client.get(f"{rig.url}/v2/models/iris/versions/2") as r:
        assert await answer(r) == (200, {"server": "b", "path": "/v2/models/iris/versions/2"})
    async with rig.client.post(f"{rig.url}/v2/models/iris/versions/3/infer", json=INFER) as r:
        status, body = await answer(r)
        assert status == 503
        assert body["error"] == "model 'iris' version '3' has no ready replica (ModelAvailable)"
    async with rig.client.post(f"{rig.url}/v2/models/iris/versions/v1/infer", json=INFER) as r:
        status, body = await answer(r)
        assert status == 400 and "'v1'" in str(body["error"])
    async with rig.client.get(f"{rig.url}/v2/models/iris/versions/2/ready") as r:
        assert await answer(r) == (200, {"name": "iris", "ready": True})
    async with rig.client.get(f"{rig.url}/v2/models/iris/versions/3/ready") as r:
        assert r.status == 503
    async with rig.client.get(f"{rig.url}/v2/models/nope/ready") as r:
        assert await answer(r) == (404, {"error": "model 'nope' not found"})
    assert [s.method for s in a.seen + b.seen] == ["POST", "GET"]


async def test_retry_after_connection_refused(rig: Rig) -> None:
    b = await rig.agent("b")
    rig.routes(route("iris", endpoint(f"a@{closed_port()}"), endpoint(b)))
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
        assert (await answer(r))[1]["server"] == "b"
    assert rig.sample("loadmaster_gateway_retries_total", model="iris") == 1
    kind = {"model": "iris", "kind": "unreachable"}
    assert rig.sample("loadmaster_gateway_upstream_errors_total", **kind) == 1


@pytest.mark.parametrize("status", [503, 404])
async def test_retry_after_not_ready_or_not_found(rig: Rig, status: int) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.status = status
    rig.routes(route("iris", endpoint(a), endpoint(b)))
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
        assert await answer(r) == (200, {"server": "b", "path": "/v2/models/iris/infer"})
    assert (len(a.seen), len(b.seen)) == (1, 1)
    assert a.seen[0].headers["x-request-id"] == b.seen[0].headers["x-request-id"]
    assert rig.sample("loadmaster_gateway_retries_total", model="iris") == 1


async def test_the_retry_uses_the_table_as_it_is_by_then(rig: Rig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.status = 503  # being unloaded; the table that moves traffic to b arrives meanwhile
    a.on_request = lambda: rig.routes(route("iris", endpoint(a), endpoint(b)))
    rig.routes(route("iris", endpoint(a)))
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
        assert (await answer(r))[1]["server"] == "b"


async def test_no_retry_after_a_client_error(rig: Rig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.status = 400
    rig.routes(route("iris", endpoint(a), endpoint(b)))
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
        assert await answer(r) == (400, {"error": "a says 400"})
    assert (len(a.seen), len(b.seen)) == (1, 0)
    assert rig.sample("loadmaster_gateway_retries_total", model="iris") == 0


async def test_503_when_no_other_replica_is_left(rig: Rig) -> None:
    rig.routes(route("iris", endpoint(f"a@{closed_port()}")))
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
        status, body = await answer(r)
    message = str(body["error"])
    assert status == 503
    assert message.startswith("model 'iris' could not be served: replica on server 'a'")
    assert "unreachable" in message and message.endswith("no other replica to retry on")


async def test_both_replicas_failing_is_503_naming_both(rig: Rig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.status = b.status = 503
    rig.routes(route("iris", endpoint(a), endpoint(b)))
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
        status, body = await answer(r)
    assert status == 503
    assert "a says 503" in str(body["error"]) and "b says 503" in str(body["error"])


async def test_a_broken_response_is_502_and_not_retried(rig: Rig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.truncate = True
    rig.routes(route("iris", endpoint(a), endpoint(b)))
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
        status, body = await answer(r)
    assert status == 502 and "broke off its response" in str(body["error"])
    assert (len(a.seen), len(b.seen)) == (1, 0)  # the model may have run: not repeated
    broken = {"model": "iris", "kind": "broken"}
    assert rig.sample("loadmaster_gateway_upstream_errors_total", **broken) == 1


async def test_deadline_is_504_and_cancels_the_upstream_request(rig: Rig) -> None:
    a = await rig.agent("a")
    a.delay_s = WAIT_S
    rig.routes(route("iris", endpoint(a)))
    async with rig.client.post(
        f"{rig.url}/v2/models/iris/infer", json=INFER, headers={"x-request-timeout-ms": "50"}
    ) as r:
        assert await answer(r) == (
            504,
            {"error": "deadline of 50 ms exceeded waiting for model 'iris'"},
        )
        assert "x-request-id" in r.headers
    async with asyncio.timeout(WAIT_S):
        await a.cancelled.wait()
    assert rig.balancer.outstanding(endpoint(a)) == 0
    timeout = {"model": "iris", "kind": "timeout"}
    assert rig.sample("loadmaster_gateway_upstream_errors_total", **timeout) == 1
    assert rig.sample("loadmaster_gateway_requests_total", model="iris", code="504") == 1


async def test_without_a_deadline_the_upstream_timeout_applies() -> None:
    async for rig in make_rig(upstream_timeout_s=0.05):
        a = await rig.agent("a")
        a.delay_s = WAIT_S
        rig.routes(route("iris", endpoint(a)))
        async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
            assert await answer(r) == (
                504,
                {"error": "upstream timeout of 0.05 s exceeded waiting for model 'iris'"},
            )


async def test_model_metadata_is_proxied(rig: Rig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", endpoint(a, 2)))
    async with rig.client.get(f"{rig.url}/v2/models/iris") as r:
        assert await answer(r) == (200, {"server": "a", "path": "/v2/models/iris"})
    async with rig.client.get(f"{rig.url}/v2/models/iris/ready") as r:
        assert await answer(r) == (200, {"name": "iris", "ready": True})
    assert [(s.method, s.path) for s in a.seen] == [("GET", "/v2/models/iris")]


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", ""])
async def test_invalid_deadline_header_is_400(rig: Rig, value: str) -> None:
    rig.routes(route("iris"))
    async with rig.client.post(
        f"{rig.url}/v2/models/iris/infer", json=INFER, headers={"x-request-timeout-ms": value}
    ) as r:
        status, body = await answer(r)
    assert status == 400 and "x-request-timeout-ms" in str(body["error"])


async def test_client_leaving_cancels_the_upstream_request(rig: Rig) -> None:
    a = await rig.agent("a")
    a.delay_s = WAIT_S
    rig.routes(route("iris", endpoint(a)))

    async def hang_up() -> None:
        async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER):
            pass

    request = asyncio.create_task(hang_up())
    await until(lambda: rig.balancer.outstanding(endpoint(a)) == 1)
    request.cancel()
    async with asyncio.timeout(WAIT_S):
        await a.cancelled.wait()
    await until(lambda: rig.balancer.outstanding(endpoint(a)) == 0)
    with pytest.raises(asyncio.CancelledError):
        await request


async def test_body_over_the_limit_is_413(rig: Rig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", endpoint(a)))
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", data=b"x" * (LIMIT + 1)) as r:
        status, body = await answer(r)
        assert "x-request-id" in r.headers
    assert status == 413 and str(LIMIT) in str(body["error"])

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit bites on reading
        for _ in range(3):
            yield b"y" * (LIMIT // 2)

    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", data=chunks()) as r:
        status, body = await answer(r)
    assert status == 413 and str(LIMIT) in str(body["error"])
    assert a.seen == []
    async with rig.client.post(f"{rig.url}/v2/models/iris/infer", data=b"x" * LIMIT) as r:
        assert r.status == 200  # exactly the limit is allowed


async def test_metrics_are_counted_and_served(rig: Rig) -> None:
    a = await rig.agent("a")
    rig.routes(route("iris", endpoint(a)))
    for _ in range(2):
        async with rig.client.post(f"{rig.url}/v2/models/iris/infer", json=INFER) as r:
            assert r.status == 200
    async with rig.client.post(f"{rig.url}/v2/models/nope/infer", json=INFER) as r:
        assert r.status == 404
    assert rig.sample("loadmaster_gateway_requests_total", model="iris", code="200") == 2
    assert rig.sample("loadmaster_gateway_requests_total", model="(unknown)", code="404") == 1
    assert rig.sample("loadmaster_gateway_request_seconds_count", model="iris") == 2
    async with rig.client.get(f"{rig.url}/metrics") as r:
        text = await r.text()
    assert r.status == 200
    assert 'loadmaster_gateway_requests_total{code="200",model="iris",protocol="rest"} 2.0' in text
    assert (
        'loadmaster_gateway_request_seconds_bucket{le="0.0001",model="iris",protocol="rest"}'
        in text
    )
