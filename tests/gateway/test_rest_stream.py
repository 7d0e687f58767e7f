"""`infer_stream` through the REST front door: server-sent events relayed as they arrive.

Fake agents answer with scripted events; a gate holds the rest of a stream back, so a test can
see the first event reach the client while the agent has not finished (nothing is buffered).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from gateway.rest_stream import error_event
from tests.gateway.fakes import WAIT_S, until
from tests.gateway.rig import Rig, endpoint, make_rig, route

INFER = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a", "bb"]}]}
EVENTS = [b'data: {"outputs": "a"}\n\n', b'data: {"outputs": "bb"}\n\n']


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for made in make_rig():
        yield made


def stream_url(rig: Rig, model: str = "iris", version: int | None = None) -> str:
    middle = f"/versions/{version}" if version is not None else ""
    return f"{rig.url}/v2/models/{model}{middle}/infer_stream"


def data_of(body: bytes) -> list[str]:
    return [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]


async def test_events_are_relayed_with_the_request_id(rig: Rig) -> None:
    a = await rig.agent("a")
    a.events = EVENTS
    rig.routes(route("iris", endpoint(a)))
    async with rig.client.post(stream_url(rig), json=INFER, headers={"x-request-id": "s-1"}) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/event-stream"
        assert r.headers["x-request-id"] == "s-1"
        assert await r.read() == b"".join(EVENTS)
    [seen] = a.seen
    assert (seen.method, seen.path) == ("POST", "/v2/models/iris/infer_stream")
    assert json.loads(seen.body) == INFER and seen.headers["x-request-id"] == "s-1"
    assert rig.sample("loadmaster_gateway_requests_total", model="iris", code="200") == 1
    assert rig.sample("loadmaster_gateway_request_seconds_count", model="iris") == 0


async def test_the_first_event_arrives_before_the_stream_ends(rig: Rig) -> None:
    a = await rig.agent("a")
    a.events, a.gate = EVENTS, asyncio.Event()
    rig.routes(route("iris", endpoint(a)))
    async with rig.client.post(stream_url(rig), json=INFER) as r:
        async with asyncio.timeout(WAIT_S):
            first = await r.content.readuntil(b"\n\n")
        assert first == EVENTS[0]  # while the agent still holds the second one back
        a.gate.set()
        assert await r.read() == EVENTS[1]


async def test_versioned_stream_names_the_version(rig: Rig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    rig.routes(route("iris", endpoint(a, 1), endpoint(b, 2)))
    async with rig.client.post(stream_url(rig, version=2), json=INFER) as r:
        assert r.status == 200
        await r.read()
    assert [s.path for s in b.seen] == ["/v2/models/iris/versions/2/infer_stream"] and not a.seen


@pytest.mark.parametrize("status", [503, 404])
async def test_retried_on_another_replica_before_the_stream_starts(rig: Rig, status: int) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.status = status
    b.events = EVENTS
    rig.routes(route("iris", endpoint(a), endpoint(b)))
    async with rig.client.post(stream_url(rig), json=INFER) as r:
        assert (r.status, await r.read()) == (200, b"".join(EVENTS))
    assert (len(a.seen), len(b.seen)) == (1, 1)
    assert rig.sample("loadmaster_gateway_retries_total", model="iris") == 1


@pytest.mark.parametrize(
    ("model", "status", "error"),
    [
        ("nope", 404, "model 'nope' not found"),
        ("iris", 400, "a says 400"),  # the agent's own answer before any event
    ],
)
async def test_errors_before_the_stream_keep_their_status(
    rig: Rig, model: str, status: int, error: str
) -> None:
    a = await rig.agent("a")
    a.status = 400
    rig.routes(route("iris", endpoint(a)))
    async with rig.client.post(stream_url(rig, model), json=INFER) as r:
        assert (r.status, await r.json()) == (status, {"error": error})
        assert "x-request-id" in r.headers


async def test_a_break_after_the_start_ends_with_an_error_event_and_no_retry(rig: Rig) -> None:
    a, b = await rig.agent("a"), await rig.agent("b")
    a.events, a.truncate = [b'data: {"outputs": "a"}\n\ndata: {"par'], True
    rig.routes(route("iris", endpoint(a), endpoint(b)))
    async with rig.client.post(stream_url(rig), json=INFER) as r:
        assert r.status == 200
        events = data_of(await r.read())
    assert events[0] == '{"outputs": "a"}'
    assert events[1] == '{"par'  # what the agent had sent, ended so the error stands apart
    error = json.loads(events[2])["error"]
    assert error.startswith("model 'iris': replica on server 'a' (version 1) broke off its stream")
    assert (len(a.seen), len(b.seen)) == (1, 0)
    broken = {"model": "iris", "kind": "broken"}
    assert rig.sample("loadmaster_gateway_upstream_errors_total", **broken) == 1


async def test_the_deadline_ends_the_stream_and_the_agent_request(rig: Rig) -> None:
    a = await rig.agent("a")
    a.events, a.gate = EVENTS, asyncio.Event()  # never set: the agent stalls after one event
    rig.routes(route("iris", endpoint(a)))
    headers = {"x-request-timeout-ms": "100"}
    async with rig.client.post(stream_url(rig), json=INFER, headers=headers) as r:
        events = data_of(await r.read())
    assert events[0] == '{"outputs": "a"}'
    assert json.loads(events[1]) == {
        "error": "deadline of 100 ms exceeded waiting for model 'iris'"
    }
    async with asyncio.timeout(WAIT_S):
        await a.cancelled.wait()
    assert rig.balancer.outstanding(endpoint(a)) == 0
    timeout = {"model": "iris", "kind": "timeout"}
    assert rig.sample("loadmaster_gateway_upstream_errors_total", **timeout) == 1


async def test_client_leaving_mid_stream_cancels_the_agent_request(rig: Rig) -> None:
    a = await rig.agent("a")
    a.events, a.gate = EVENTS, asyncio.Event()
    rig.routes(route("iris", endpoint(a)))

    async def read_one_then_wait() -> None:
        async with rig.client.post(stream_url(rig), json=INFER) as r:
            await r.content.readuntil(b"\n\n")
            await asyncio.Event().wait()

    reader = asyncio.create_task(read_one_then_wait())
    await until(lambda: rig.balancer.outstanding(endpoint(a)) == 1 and bool(a.seen))
    reader.cancel()
    async with asyncio.timeout(WAIT_S):
        await a.cancelled.wait()
    await until(lambda: rig.balancer.outstanding(endpoint(a)) == 0)
    await until(
        lambda: rig.sample("loadmaster_gateway_requests_total", model="iris", code="499") == 1
    )
    with pytest.raises(asyncio.CancelledError):
        await reader


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (b"", b'data: {"error":"x"}\n\n'),  # nothing sent yet
        (b"\n\n", b'data: {"error":"x"}\n\n'),  # after a whole event
        (b'r"', b'\n\ndata: {"error":"x"}\n\n'),  # in the middle of one
    ],
)
def test_error_event_closes_a_half_written_event(after: bytes, expected: bytes) -> None:
    assert error_event("x", after) == expected
