"""Keep-alive HTTP/1.1 connections to agents, pooled per address and capped per address.

The cap is what keeps a burst from swamping one agent: a request that finds every connection
to its agent busy waits (within its deadline) for one to come free, and is handed that
connection directly, first come first served. A connection is put back only after an exchange
that ended cleanly with a reusable response; anything else (timeout, cancellation, a broken or
unframed answer) closes it, so the next request never reads the remains of an earlier one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping

from gateway.http1 import (
    KEEPALIVE_S,
    Connection,
    NoResponse,
    Response,
    request_head,
)


class _Slot:
    """What a waiting request is handed when a connection closed: room to open a new one."""


SLOT = _Slot()


class _Pool:
    """The connections to one address: idle ones, the count of all, and who waits for one."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.address = address
        self.host = host.strip("[]")
        self.port = int(port)
        self.idle: list[Connection] = []
        self.live: set[Connection] = set()
        self.count = 0  # connections open or being opened, at most the cap
        self.waiters: deque[asyncio.Future[Connection | _Slot]] = deque()

    def hand_over(self, item: Connection | _Slot) -> None:
        """Give a free connection (or the room a closed one left) to the first waiter."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        if isinstance(item, Connection):
            self.idle.append(item)
        else:
            self.count -= 1

    def discard(self, connection: Connection) -> None:
        """Close `connection`; its room passes to a waiter, if one waits."""
        connection.close()
        self.live.discard(connection)
        self.hand_over(SLOT)


class Http1Pool:
    """Pooled connections per agent address ("HOST:PORT"), at most `per_address` each."""

    def __init__(
        self,
        per_address: int = 64,
        keepalive_s: float = KEEPALIVE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_address < 1:
            raise ValueError(f"per_address must be at least 1, got {per_address}")
        self.per_address = per_address
        self.keepalive_s = keepalive_s
        self._clock = clock
        self._pools: dict[str, _Pool] = {}
        self._closed = False
        self._sweeper: asyncio.TimerHandle | None = None

    async def request(
        self, address: str, method: str, path_qs: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        """Send one request to `address` and read the whole answer. Raises `NoResponse` or
        `ResponseBroken`. The caller bounds the time (cancelling closes the connection)."""
        if self._closed:
            raise NoResponse("the gateway is shutting down")
        pool = self._pools.get(address)
        if pool is None:
            try:
                pool = self._pools[address] = _Pool(address)
            except ValueError:
                raise NoResponse(f"not a HOST:PORT address: {address!r}") from None
            if self._sweeper is None:
                self._sweeper = asyncio.get_running_loop().call_later(self.keepalive_s, self._tick)
        head = request_head(method, path_qs, address, headers, len(body))
        no_body = method == "HEAD"
        connection, reused = await self._acquire(pool)
        try:
            try:
                parser = await connection.exchange(head, body, no_body)
            except NoResponse:
                if not reused or self._closed:
                    raise
                # the agent closed an idle connection as it was taken: never reached it
                connection.close()
                pool.live.discard(connection)
                connection = await self._connect(pool)
                parser = await connection.exchange(head, body, no_body)
        except BaseException:
            pool.discard(connection)
            raise
        if parser.reusable and not connection.closed:
            connection.idle_since = self._clock()
            pool.hand_over(connection)
        else:
            pool.discard(connection)
        return Response(parser.status, parser.headers, parser.body)

    async def _acquire(self, pool: _Pool) -> tuple[Connection, bool]:
        """A connection to `pool`'s address and whether it was used before."""
        idle = pool.idle
        if idle:
            oldest_usable = self._clock() - self.keepalive_s
            while idle:
                connection = idle.pop()
                if not connection.closed and connection.idle_since > oldest_usable:
                    return connection, True
                connection.close()
                pool.live.discard(connection)
                pool.count -= 1
        if pool.count < self.per_address:
            pool.count += 1
            return await self._open(pool), False
        waiter: asyncio.Future[Connection | _Slot] = asyncio.get_running_loop().create_future()
        pool.waiters.append(waiter)
        try:
            item = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # handed one as we were cancelled
                handed = waiter.result()
                if isinstance(handed, Connection):
                    pool.hand_over(handed)
                else:
                    pool.hand_over(SLOT)
            raise
        if isinstance(item, Connection):
            return item, True
        return await self._open(pool), False

    async def _open(self, pool: _Pool) -> Connection:
        """A new connection in a room already counted; the room is given back on failure."""
        try:
            return await self._connect(pool)
        except BaseException:
            pool.hand_over(SLOT)
            raise

    async def _connect(self, pool: _Pool) -> Connection:
        if self._closed:
            raise NoResponse("the gateway is shutting down")
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(Connection, pool.host, pool.port)
        except OSError as exc:
            text = str(exc)
            raise NoResponse(f"{type(exc).__name__}: {text}" if text else "connect failed") from exc
        pool.live.add(connection)
        if self._closed:  # closed while connecting
            connection.close()
            raise NoResponse("the gateway is shutting down")
        return connection

    def connections(self, address: str) -> int:
        """Connections to `address` open or being opened, busy and idle."""
        pool = self._pools.get(address)
        return pool.count if pool is not None else 0

    def waiting(self, address: str) -> int:
        """Requests to `address` waiting for a connection to come free."""
        pool = self._pools.get(address)
        return sum(not w.done() for w in pool.waiters) if pool is not None else 0

    def sweep(self) -> None:
        """Close connections idle longer than the keep-alive time; forget empty pools."""
        oldest_usable = self._clock() - self.keepalive_s
        for address, pool in list(self._pools.items()):
            keep = []
            for connection in pool.idle:
                if not connection.closed and connection.idle_since > oldest_usable:
                    keep.append(connection)
                else:
                    connection.close()
                    pool.live.discard(connection)
                    pool.count -= 1
            pool.idle = keep
            if not pool.count and not pool.waiters:
                del self._pools[address]

    def _tick(self) -> None:
        self.sweep()
        self._sweeper = None
        if self._pools and not self._closed:
            self._sweeper = asyncio.get_running_loop().call_later(self.keepalive_s, self._tick)

    def close(self) -> None:
        """Close every connection, busy ones included; requests after this fail, and so do
        those waiting for a connection."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for pool in self._pools.values():
            for waiter in pool.waiters:
                if not waiter.done():
                    waiter.set_exception(NoResponse("the gateway is shutting down"))
            pool.waiters.clear()
            for connection in list(pool.live):
                connection.close()
            pool.idle.clear()
            pool.live.clear()
        self._pools.clear()
