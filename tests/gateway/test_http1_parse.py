"""The HTTP/1.1 response parser, fed each response whole and one byte at a time."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateway.http1_parse import ProtocolError, ResponseParser

BINARY = b'{"outputs":[]}' + bytes(range(256))  # a JSON header, then raw tensor bytes


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    status: int
    body: bytes
    reusable: bool
    no_body: bool = False  # the answer to a HEAD request


CASES = [
    Case(
        "content-length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello", True
    ),
    Case(
        "binary body, bytes untouched",
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nInference-Header-Content-Length: 14\r\n\r\n"
        % len(BINARY)
        + BINARY,
        200,
        BINARY,
        True,
    ),
    Case("empty body", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, b"", True),
    Case(
        "chunked, with an extension and trailers",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=x\r\nhello\r\n1A\r\n abcdefghijklmnopqrstuvwxy\r\n0\r\nX-Trailer: 1\r\n\r\n",
        200,
        b"hello abcdefghijklmnopqrstuvwxy",
        True,
    ),
    Case(
        "chunked after other codings",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        200,
        b"abc",
        True,
    ),
    Case(
        "chunked and a length: chunked wins, link dropped",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        200,
        b"abc",
        False,
    ),
    Case("204 has no body", b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", True),
    Case(
        "304 has no body", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 304, b"", True
    ),
    Case("HEAD has no body", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 200, b"", True, True),
    Case("no reason phrase", b"HTTP/1.1 503\r\nContent-Length: 2\r\n\r\n{}", 503, b"{}", True),
    Case(
        "an interim 100 first",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        True,
    ),
    Case(
        "Connection: close",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        False,
    ),
    Case("HTTP/1.0", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, b"ok", False),
    Case(
        "HTTP/1.0 keep-alive",
        b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        True,
    ),
    Case(
        "bytes after the response",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
        200,
        b"ok",
        False,
    ),
]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_responses(case: Case, bytewise: bool) -> None:
    parser = ResponseParser(no_body=case.no_body)
    pieces = [case.raw[i : i + 1] for i in range(len(case.raw))] if bytewise else [case.raw]
    results = [parser.feed(piece) for piece in pieces]
    if "bytes after" in case.name and bytewise:
        assert results[-len(b"EXTRA") - 1]  # whole at the body's last byte
        return
    assert results[-1] and not any(results[:-1])
    assert (parser.status, parser.body, parser.reusable) == (case.status, case.body, case.reusable)


def test_headers_are_case_insensitive_and_kept_as_sent() -> None:
    parser = ResponseParser()
    raw = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
        b"Inference-Header-Content-Length:\t 14 \r\nX-Odd: caf\xc3\xa9 \xff\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert parser.feed(raw)
    assert parser.headers["Content-Type"] == "application/octet-stream"
    assert parser.headers["inference-header-content-length"] == "14"
    assert parser.headers["X-Odd"].encode("utf-8", "surrogateescape") == b"caf\xc3\xa9 \xff"


@pytest.mark.parametrize(
    ("raw", "whole_at_close"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", True),  # no framing: the close ends it
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", False),
        (b"HTTP/1.1 200 OK\r\nContent-", False),
    ],
)
def test_the_connection_closing(raw: bytes, whole_at_close: bool) -> None:
    parser = ResponseParser()
    assert not parser.feed(raw)
    assert parser.began
    assert parser.feed_eof() is whole_at_close
    if whole_at_close:
        assert parser.body == raw.split(b"\r\n\r\n", 1)[1]
        assert not parser.reusable


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 20x OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "bad status line"),
        (b"garbage\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nName : v\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\n folded: v\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "bad Content"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "longer than"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000, "response head longer than"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 5000, "longer than"),
    ],
)
def test_malformed_responses(raw: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        ResponseParser().feed(raw)


def test_a_body_in_many_pieces_is_joined_in_order() -> None:
    parser = ResponseParser()
    assert not parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n")
    pieces = [bytes([i % 256]) * 1000 for i in range(300)]
    assert [parser.feed(p) for p in pieces] == [False] * 299 + [True]
    assert parser.body == b"".join(pieces)


def test_nothing_fed_means_nothing_began() -> None:
    parser = ResponseParser()
    assert not parser.began
    assert not parser.feed_eof()
