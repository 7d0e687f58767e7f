"""Fixture: a loopback HTTP server (`http.server` in a thread on 127.0.0.1, port 0)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.agent.artifacts.helpers import FakeHttp, Route


@pytest.fixture
def http_server() -> Iterator[FakeHttp]:
    state = FakeHttp(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits[self.path] += 1
            route = state.routes.get(self.path, Route(status=404))
            time.sleep(route.delay_s)
            self.send_response(route.status)
            if route.send_length or route.status != 200:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if route.status != 200:
                self.wfile.write(route.body)
                return
            if route.stall:
                self.wfile.flush()
                state.release.wait(5)
                return
            if route.drop_after is not None:
                self.wfile.write(route.body[: route.drop_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
