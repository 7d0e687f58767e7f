"""The pooled HTTP/1.1 client against small scripted asyncio servers on loopback.

Each server reads requests and answers each with the next `Reply` of its script (a plain 200
when the script has run out), so a test says exactly what the agent does and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import uvloop

from gateway.http1 import NoResponse, ResponseBroken
from gateway.http1_pool import Http1Pool
from gateway.routes import Endpoint
from gateway.upstream import Upstream, UpstreamBroken, UpstreamUnreachable
from tests.gateway.fakes import closed_port, until

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Reply:
    """What the server does with one request: wait for `gate`, write `data`, then keep the
    connection, `close` it, or `reset` it (RST)."""

    data: bytes = OK
    gate: asyncio.Event | None = None
    then: str = "keep"


@dataclass
class Scripted:
    script: list[Reply] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    ended: int = 0  # connections that have ended, either side closing
    address: str = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                reply = self.script.pop(0) if self.script else Reply()
                if reply.gate is not None:
                    await reply.gate.wait()
                writer.write(reply.data)
                await writer.drain()
                if reply.then == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                if reply.then != "keep":
                    writer.close()
                    return
        finally:
            self.ended += 1


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[Scripted]:
    scripted = Scripted()
    listener = await asyncio.start_server(scripted.serve, "127.0.0.1", 0)
    host, port = listener.sockets[0].getsockname()[:2]
    scripted.address = f"{host}:{port}"
    try:
        yield scripted
    finally:
        listener.close()


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    async with serving() as scripted:
        yield scripted


@pytest.fixture
async def pool() -> AsyncIterator[Http1Pool]:
    client = Http1Pool(per_address=4)
    try:
        yield client
    finally:
        client.close()


async def test_request_goes_out_byte_for_byte(server: Scripted, pool: Http1Pool) -> None:
    body = b'{"inputs":[]}' + bytes(range(256))
    headers = {"Inference-Header-Content-Length": "13", "x-request-id": "abc"}
    answer = await pool.request(server.address, "POST", "/v2/models/m/infer?a=1", headers, body)
    assert (answer.status, answer.body) == (200, b"ok")
    assert server.requests == [
        b"POST /v2/models/m/infer?a=1 HTTP/1.1\r\nHost: " + server.address.encode() + b"\r\n"
        b"Content-Length: 269\r\nInference-Header-Content-Length: 13\r\nx-request-id: abc\r\n"
        b"\r\n" + body
    ]


async def test_framing_headers_are_the_clients_and_targets_are_made_safe(
    server: Scripted, pool: Http1Pool
) -> None:
    headers = {"Content-Length": "99", "Host": "evil", "Connection": "close", "Accept": "*/*"}
    await pool.request(server.address, "GET", "/v2/models/a b\r\nX: y", headers, b"")
    assert server.requests == [
        b"GET /v2/models/a%20b%0D%0AX:%20y HTTP/1.1\r\nHost: "
        + server.address.encode()
        + b"\r\nAccept: */*\r\n\r\n"
    ]


async def test_a_large_body_is_sent_whole(server: Scripted, pool: Http1Pool) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, written after the head
    await pool.request(server.address, "POST", "/", {}, body)
    assert server.requests[0].endswith(b"\r\n\r\n" + body)


async def test_connections_are_kept_alive_and_reused(server: Scripted, pool: Http1Pool) -> None:
    for _ in range(3):
        await pool.request(server.address, "POST", "/", {}, b"x")
    assert (server.connections, len(server.requests)) == (1, 3)
    assert pool.connections(server.address) == 1


@pytest.mark.parametrize(
    ("reply", "reused"),
    [
        (Reply(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")), False),
        (Reply(b"HTTP/1.1 200 OK\r\n\r\nok", then="close"), False),  # framed by the close
        (Reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"), True),
        (Reply(OK + b"junk"), False),
    ],
    ids=["connection-close", "until-close", "chunked", "extra-bytes"],
)
async def test_responses_and_whether_the_connection_is_reused(
    server: Scripted, pool: Http1Pool, reply: Reply, reused: bool
) -> None:
    server.script = [reply]
    first = await pool.request(server.address, "POST", "/", {}, b"")
    second = await pool.request(server.address, "POST", "/", {}, b"")
    assert (first.status, first.body, second.body) == (200, b"ok", b"ok")
    assert server.connections == (1 if reused else 2)


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (Reply(b"", then="close"), NoResponse, "before any response"),
        (Reply(b"", then="reset"), NoResponse, "Connection|closed"),
        (Reply(b"HTTP/1.1 200 OK\r\nContent-", then="close"), ResponseBroken, "cut short"),
        (Reply(OK[:-1], then="close"), ResponseBroken, "cut short"),
        (Reply(OK[:-1], then="reset"), ResponseBroken, "cut short"),
        (Reply(b"SMTP ready\r\n\r\n"), ResponseBroken, "malformed response: bad status line"),
    ],
    ids=["closed", "reset", "closed-in-head", "closed-in-body", "reset-in-body", "not-http"],
)
async def test_failures_are_told_apart_by_whether_the_answer_began(
    server: Scripted, pool: Http1Pool, reply: Reply, error: type[Exception], words: str
) -> None:
    server.script = [reply]
    with pytest.raises(error, match=words):
        await pool.request(server.address, "POST", "/", {}, b"x")
    await until(lambda: pool.connections(server.address) == 0)  # closed, never pooled


async def test_a_malformed_address_is_no_response(pool: Http1Pool) -> None:
    with pytest.raises(NoResponse, match="not a HOST:PORT address"):
        await pool.request("agent-without-port", "POST", "/", {}, b"x")


async def test_connection_refused_is_no_response(pool: Http1Pool) -> None:
    address = closed_port()
    with pytest.raises(NoResponse, match="ConnectionRefusedError"):
        await pool.request(address, "POST", "/", {}, b"x")
    assert pool.connections(address) == 0


async def test_a_kept_connection_the_agent_closed_is_retried_once_on_a_fresh_one(
    server: Scripted, pool: Http1Pool
) -> None:
    # the second request arrives as the agent drops the idle connection: nothing answered
    server.script = [Reply(), Reply(b"", then="close")]
    await pool.request(server.address, "POST", "/", {}, b"a")
    answer = await pool.request(server.address, "POST", "/", {}, b"b")
    assert (answer.status, server.connections) == (200, 2)
    assert [r[-1:] for r in server.requests] == [b"a", b"b", b"b"]


async def test_a_fresh_connection_is_not_retried(server: Scripted, pool: Http1Pool) -> None:
    server.script = [Reply(b"", then="close")]
    with pytest.raises(NoResponse):
        await pool.request(server.address, "POST", "/", {}, b"a")
    assert len(server.requests) == 1


async def test_an_idle_connection_the_agent_closed_is_not_used(
    server: Scripted, pool: Http1Pool
) -> None:
    server.script = [Reply(then="close")]
    await pool.request(server.address, "POST", "/", {}, b"a")
    await until(lambda: server.ended == 1)
    await pool.request(server.address, "POST", "/", {}, b"b")
    assert (server.connections, len(server.requests)) == (2, 2)


async def test_timeout_raises_and_discards_the_connection(
    server: Scripted, pool: Http1Pool
) -> None:
    gate = asyncio.Event()
    server.script = [Reply(gate=gate)]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await pool.request(server.address, "POST", "/", {}, b"x")
    assert pool.connections(server.address) == 0
    gate.set()
    await until(lambda: server.ended == 1)  # the gateway closed it
    assert (await pool.request(server.address, "POST", "/", {}, b"y")).body == b"ok"
    assert server.connections == 2


async def test_cancellation_closes_the_connection(server: Scripted, pool: Http1Pool) -> None:
    gate = asyncio.Event()
    server.script = [Reply(gate=gate)]
    task = asyncio.create_task(pool.request(server.address, "POST", "/", {}, b"x"))
    await until(lambda: len(server.requests) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.connections(server.address) == 0
    gate.set()
    await until(lambda: server.ended == 1)


async def test_requests_beyond_the_cap_wait_for_a_connection(server: Scripted) -> None:
    pool = Http1Pool(per_address=1)
    gate = asyncio.Event()
    server.script = [Reply(gate=gate)]
    try:
        first = asyncio.create_task(pool.request(server.address, "POST", "/", {}, b"1"))
        second = asyncio.create_task(pool.request(server.address, "POST", "/", {}, b"2"))
        await until(lambda: len(server.requests) == 1 and pool.waiting(server.address) == 1)
        gate.set()
        assert [(await t).body for t in (first, second)] == [b"ok", b"ok"]
        assert (server.connections, len(server.requests)) == (1, 2)  # handed over, kept alive
    finally:
        pool.close()


async def test_a_waiter_cancelled_or_a_connection_failing_frees_its_place(
    server: Scripted,
) -> None:
    pool = Http1Pool(per_address=1)
    gate = asyncio.Event()
    server.script = [Reply(b"", gate=gate, then="close")]
    try:
        first = asyncio.create_task(pool.request(server.address, "POST", "/", {}, b"1"))
        leaving = asyncio.create_task(pool.request(server.address, "POST", "/", {}, b"2"))
        third = asyncio.create_task(pool.request(server.address, "POST", "/", {}, b"3"))
        await until(lambda: pool.waiting(server.address) == 2)
        leaving.cancel()
        gate.set()  # the first fails: its room goes to the third, on a new connection
        with pytest.raises(NoResponse):
            await first
        assert (await third).body == b"ok"
        assert leaving.cancelled()
        assert (pool.connections(server.address), server.connections) == (1, 2)
    finally:
        pool.close()


async def test_idle_connections_are_swept_after_the_keepalive_time(server: Scripted) -> None:
    now = [100.0]
    pool = Http1Pool(per_address=4, keepalive_s=30.0, clock=lambda: now[0])
    try:
        await pool.request(server.address, "POST", "/", {}, b"x")
        now[0] += 29.0
        pool.sweep()
        assert pool.connections(server.address) == 1
        now[0] += 2.0
        pool.sweep()
        assert pool.connections(server.address) == 0
        await until(lambda: server.ended == 1)
    finally:
        pool.close()


async def test_close_closes_every_connection_and_fails_what_follows(
    server: Scripted,
) -> None:
    pool = Http1Pool(per_address=1)
    gate = asyncio.Event()
    server.script = [Reply(), Reply(gate=gate)]
    await pool.request(server.address, "POST", "/", {}, b"idle")
    busy = asyncio.create_task(pool.request(server.address, "POST", "/", {}, b"busy"))
    waiting = asyncio.create_task(pool.request(server.address, "POST", "/", {}, b"waits"))
    await until(lambda: len(server.requests) == 2 and pool.waiting(server.address) == 1)
    pool.close()
    for task in (busy, waiting):
        with pytest.raises(NoResponse):
            await task
    with pytest.raises(NoResponse, match="shutting down"):
        await pool.request(server.address, "POST", "/", {}, b"late")
    gate.set()
    await until(lambda: server.ended == 1)
    assert server.connections == 1


# ---- the contract the proxy relies on, through `Upstream.forward` -----------------------------


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(b"", then="close"), UpstreamUnreachable),
        (Reply(b"", then="reset"), UpstreamUnreachable),
        (Reply(OK[:-1], then="close"), UpstreamBroken),
        (Reply(b"nonsense\r\n\r\n"), UpstreamBroken),
    ],
    ids=["closed", "reset", "cut-short", "not-http"],
)
async def test_upstream_forward_names_the_replica(
    server: Scripted, reply: Reply, error: type[Exception]
) -> None:
    upstream = Upstream(connections_per_endpoint=2)
    endpoint = Endpoint("a", 1, server.address, "")
    server.script = [reply]
    try:
        with pytest.raises(error) as raised:
            await upstream.forward(endpoint, "POST", "/", {}, b"x", 5.0)
        assert getattr(raised.value, "endpoint", None) == endpoint
        answer = await upstream.forward(endpoint, "POST", "/", {}, b"x", 5.0)
        assert (answer.status, answer.headers["content-length"], answer.body) == (200, "2", b"ok")
    finally:
        await upstream.close()


async def test_upstream_forward_refused(server: Scripted) -> None:
    upstream = Upstream()
    try:
        with pytest.raises(UpstreamUnreachable, match="ConnectionRefused"):
            await upstream.forward(Endpoint("a", 1, closed_port(), ""), "GET", "/", {}, b"", 5.0)
    finally:
        await upstream.close()


async def test_upstream_forward_timeout_discards_the_connection(server: Scripted) -> None:
    upstream = Upstream()
    endpoint = Endpoint("a", 1, server.address, "")
    gate = asyncio.Event()
    server.script = [Reply(gate=gate)]
    try:
        with pytest.raises(TimeoutError):
            await upstream.forward(endpoint, "POST", "/", {}, b"x", 0.01)
        gate.set()
        await until(lambda: server.ended == 1)
        assert (await upstream.forward(endpoint, "POST", "/", {}, b"y", None)).body == b"ok"
        assert server.connections == 2
    finally:
        await upstream.close()


# ---- the gateway runs on uvloop, whose transports are not asyncio's -------------------------

Scenario = Callable[[Scripted, Http1Pool], Awaitable[None]]
ON_UVLOOP: list[Scenario] = [
    test_request_goes_out_byte_for_byte,
    test_a_large_body_is_sent_whole,
    test_connections_are_kept_alive_and_reused,
    test_a_kept_connection_the_agent_closed_is_retried_once_on_a_fresh_one,
    test_timeout_raises_and_discards_the_connection,
    test_cancellation_closes_the_connection,
    functools.partial(
        test_failures_are_told_apart_by_whether_the_answer_began,
        reply=Reply(b"", then="reset"),
        error=NoResponse,
        words="Connection",
    ),
    functools.partial(
        test_failures_are_told_apart_by_whether_the_answer_began,
        reply=Reply(OK[:-1], then="close"),
        error=ResponseBroken,
        words="cut short",
    ),
    functools.partial(
        test_responses_and_whether_the_connection_is_reused,
        reply=Reply(b"HTTP/1.1 200 OK\r\n\r\nok", then="close"),
        reused=False,
    ),
]


@pytest.mark.parametrize("scenario", ON_UVLOOP)
def test_on_uvloop(scenario: Scenario) -> None:
    async def run() -> None:
        async with serving() as scripted:
            pool = Http1Pool(per_address=4)
            try:
                await scenario(scripted, pool)
            finally:
                pool.close()

    uvloop.run(run())
