"""Reading one HTTP/1.1 response off a keep-alive connection, fed as the bytes arrive.

The gateway's unary REST path needs only this much of HTTP: a status line, headers, and a body
framed by `Content-Length`, by chunked transfer coding, or by the connection closing. A parser
of that size, fed straight from `asyncio.Protocol.data_received`, costs a fraction of a general
client's per-request machinery, and it is the gateway's hot path. Bodies are kept as the bytes
that arrived (chunked framing removed, nothing decoded), so tensors pass through untouched.
"""

from __future__ import annotations

import enum
import re

from multidict import CIMultiDict

MAX_HEAD_BYTES = 64 * 1024  # status line and headers; a larger head is not an agent's
MAX_LINE_BYTES = 4096  # one chunk-size or trailer line
_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")
_VERSIONS = ("HTTP/1.1", "HTTP/1.0")


class ProtocolError(Exception):
    """The bytes are not an HTTP/1.x response the gateway can read."""


class Phase(enum.Enum):
    """Where the parser is in the response."""

    HEAD = "head"  # status line and headers, up to the empty line
    BODY = "body"  # `remaining` bytes framed by Content-Length
    CHUNK_SIZE = "chunk size"  # the hex size line of the next chunk
    CHUNK_DATA = "chunk data"  # `remaining` bytes of the current chunk
    CHUNK_END = "chunk end"  # the CRLF after a chunk's data
    TRAILERS = "trailers"  # trailer lines after the last chunk, up to the empty line
    UNTIL_CLOSE = "until close"  # no framing: the body ends when the connection does
    DONE = "done"


class ResponseParser:
    """One response: `feed` it bytes until it says the response is whole.

    `began` is whether any byte of the response has arrived (it decides whether a failure may
    be retried); `reusable` whether the connection may carry another request afterwards.
    """

    __slots__ = (
        "_no_body",
        "_parts",
        "_pending",
        "began",
        "headers",
        "phase",
        "remaining",
        "reusable",
        "status",
    )

    def __init__(self, no_body: bool = False) -> None:
        self._no_body = no_body  # the answer to a HEAD request has a head only
        self._parts: list[bytes] = []
        self._pending = b""  # an incomplete head or line, kept until the rest arrives
        self.began = False
        self.phase = Phase.HEAD
        self.remaining = 0
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.reusable = False

    @property
    def body(self) -> bytes:
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def feed(self, data: bytes) -> bool:
        """Take the next bytes; True once the response is whole. Raises `ProtocolError`."""
        self.began = True
        if self._pending:
            data = self._pending + data
            self._pending = b""
        pos = 0
        end = len(data)
        while pos < end or self.phase is Phase.DONE:
            phase = self.phase
            if phase is Phase.BODY or phase is Phase.CHUNK_DATA:
                take = min(self.remaining, end - pos)
                self._parts.append(data if take == end else data[pos : pos + take])
                pos += take
                self.remaining -= take
                if not self.remaining:
                    self.phase = Phase.DONE if phase is Phase.BODY else Phase.CHUNK_END
            elif phase is Phase.HEAD:
                stop = data.find(b"\r\n\r\n", pos)
                if stop < 0:
                    return self._keep(data, pos, MAX_HEAD_BYTES, "response head")
                self._head(data[pos:stop])
                pos = stop + 4
            elif phase is Phase.UNTIL_CLOSE:
                self._parts.append(data[pos:] if pos else data)
                pos = end
            elif phase is Phase.DONE:
                if pos < end:  # bytes after the response: the connection cannot be trusted
                    self.reusable = False
                return True
            else:
                stop = data.find(b"\r\n", pos)
                if stop < 0:
                    return self._keep(data, pos, MAX_LINE_BYTES, str(phase.value))
                self._line(data[pos:stop])
                pos = stop + 2
        return False

    def feed_eof(self) -> bool:
        """The connection closed: True when that completes the response (a body framed by
        the close), False when the response is cut short."""
        if self.phase is Phase.UNTIL_CLOSE:
            self.phase = Phase.DONE
            return True
        return self.phase is Phase.DONE

    def _keep(self, data: bytes, pos: int, limit: int, what: str) -> bool:
        rest = data[pos:]
        if len(rest) > limit:
            raise ProtocolError(f"{what} longer than {limit} bytes")
        self._pending = rest
        return False

    def _line(self, line: bytes) -> None:
        """A chunk-size line, the CRLF after a chunk, or a trailer line."""
        phase = self.phase
        if phase is Phase.CHUNK_END:
            if line:
                raise ProtocolError("chunk data longer than its size")
            self.phase = Phase.CHUNK_SIZE
        elif phase is Phase.CHUNK_SIZE:
            size = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(size):
                raise ProtocolError(f"bad chunk size line {line[:40]!r}")
            self.remaining = int(size, 16)
            self.phase = Phase.CHUNK_DATA if self.remaining else Phase.TRAILERS
        elif not line:  # the empty line that ends the trailers
            self.phase = Phase.DONE

    def _head(self, raw: bytes) -> None:
        lines = raw.decode("utf-8", "surrogateescape").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        valid = code.isascii() and code.isdigit() and rest[3:4] in ("", " ")
        if version not in _VERSIONS or not valid:
            raise ProtocolError(f"bad status line {lines[0][:80]!r}")
        pairs = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name[-1] in " \t" or name[0] in " \t":
                raise ProtocolError(f"bad header line {line[:80]!r}")
            pairs.append((name, value.strip(" \t")))
        status = int(code)
        if status < 200:  # an interim answer (100 Continue); the real one follows
            if status == 101:
                raise ProtocolError("the agent switched protocols")
            return
        headers = CIMultiDict(pairs)
        self.status = status
        self.headers = headers
        connection = headers.get("Connection", "").lower()
        if version == "HTTP/1.1":
            self.reusable = "close" not in connection
        else:
            self.reusable = "keep-alive" in connection
        self._framing(headers, status)

    def _framing(self, headers: CIMultiDict[str], status: int) -> None:
        """How the body is delimited (RFC 9112 §6.3)."""
        if self._no_body or status in (204, 304):
            self.phase = Phase.DONE
            return
        coding = headers.get("Transfer-Encoding")
        if coding is not None:
            if "Content-Length" in headers:
                self.reusable = False  # both framings: read it as chunked, then drop the link
            if coding.rsplit(",", 1)[-1].strip(" \t").lower() == "chunked":
                self.phase = Phase.CHUNK_SIZE
            else:
                self.phase = Phase.UNTIL_CLOSE
                self.reusable = False
            return
        lengths = headers.getall("Content-Length", [])
        if not lengths:
            self.phase = Phase.UNTIL_CLOSE
            self.reusable = False
            return
        text = lengths[0].strip(" \t")
        if any(v.strip(" \t") != text for v in lengths) or not (text.isascii() and text.isdigit()):
            raise ProtocolError(f"bad Content-Length {', '.join(lengths)[:80]!r}")
        self.remaining = int(text)
        self.phase = Phase.BODY if self.remaining else Phase.DONE
