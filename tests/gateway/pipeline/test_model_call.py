"""HttpModelCall against a stand-in gateway on loopback, and the failure status and message."""

from __future__ import annotations

import pytest
from aiohttp import web

from gateway.pipeline.model_call import (
    GatewayAddress,
    GatewayUnreachable,
    HttpModelCall,
    ModelAnswer,
    failure_message,
    failure_status,
    header_length_of,
)
from tests.gateway.fakes import Seen, closed_port, start_app


async def test_the_call_posts_to_the_gateway_with_the_headers_and_reads_the_answer() -> None:
    seen: list[Seen] = []

    async def infer(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(Seen(request.method, request.path, request.headers.copy(), body))
        if request.match_info["model"] == "broken":
            return web.json_response({"error": "no"}, status=500)
        return web.Response(body=b"HEADbin", headers={"Inference-Header-Content-Length": "4"})

    app = web.Application()
    app.router.add_post("/base/v2/models/{model}/infer", infer)
    runner, address = await start_app(app)
    call = HttpModelCall(f"http://{address}/base/", connections=2)
    try:
        answer = await call("m", b"{}xx", 2, 1500, "req-1")
        assert answer == ModelAnswer(200, b"HEADbin", 4)
        failed = await call("broken", b"{}", None, 10, "req-2")
        assert failed.status == 500 and failed.header_length is None
        assert failure_message(failed) == "no"
    finally:
        call.close()
        await runner.cleanup()
    first, second = seen
    assert (first.method, first.path, first.body) == ("POST", "/base/v2/models/m/infer", b"{}xx")
    assert first.headers["Inference-Header-Content-Length"] == "2"
    assert first.headers["Content-Type"] == "application/octet-stream"
    assert first.headers["x-request-timeout-ms"] == "1500"
    assert first.headers["x-request-id"] == "req-1"
    assert "Inference-Header-Content-Length" not in second.headers
    assert second.headers["Content-Type"] == "application/json"


async def test_a_gateway_that_is_not_there_is_unreachable() -> None:
    call = HttpModelCall(f"http://{closed_port()}")
    try:
        with pytest.raises(GatewayUnreachable, match="NoResponse"):
            await call("m", b"{}", None, 100, "r")
    finally:
        call.close()


@pytest.mark.parametrize(
    ("url", "address", "base"),
    [
        ("http://127.0.0.1:9000", "127.0.0.1:9000", ""),
        ("http://gw:9000/", "gw:9000", ""),
        ("http://gw", "gw:80", ""),
        ("http://gw:1/x/y/", "gw:1", "/x/y"),
        ("http://[::1]:9000", "[::1]:9000", ""),
    ],
)
def test_gateway_urls(url: str, address: str, base: str) -> None:
    parsed = GatewayAddress.parse(url)
    assert (parsed.address, parsed.base_path) == (address, base)
    assert parsed.infer_path("m") == f"{base}/v2/models/m/infer"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://gw:9000", "expected http://HOST:PORT"),
        ("gw:9000", "expected http://HOST:PORT"),
        ("http://:9000", "expected http://HOST:PORT"),
        ("http://gw:99999", "Port out of range"),
        ("http://gw:9000?x=1", "nothing more"),
    ],
)
def test_bad_gateway_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        GatewayAddress.parse(url)


@pytest.mark.parametrize(
    ("status", "reported"),
    [
        (400, 400),
        (404, 404),
        (499, 499),
        (500, 500),
        (502, 500),
        (503, 503),
        (504, 504),
        (201, 500),
    ],
)
def test_failure_status(status: int, reported: int) -> None:
    assert failure_status(status) == reported


def test_failure_message_of_a_binary_or_long_answer() -> None:
    binary = ModelAnswer(500, b'{"error": "x"}tail', header_length=14)
    assert failure_message(binary) == '{"error": "x"}tail'
    long = failure_message(ModelAnswer(500, b"y" * 5000))
    assert len(long) == 2003 and long.endswith("...")


@pytest.mark.parametrize(
    ("text", "value"), [(None, None), ("12", 12), (" 3 ", 3), ("x", None), ("-1", None)]
)
def test_header_length_of(text: str | None, value: int | None) -> None:
    assert header_length_of(text) == value
