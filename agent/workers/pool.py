"""The agent's worker processes: N of them, each with its own copy of every model.

N is the agent's `--parallel-workers`, the copy count the scheduler charges. A call goes to the
least busy worker holding the model. A worker that dies fails its in-flight calls with a clear
error, is started again, and reloads every model it held before it takes traffic again.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from agent.workers.framing import encode_frame, read_frame
from agent.workers.messages import (
    AgentMessage,
    Loaded,
    LoadModel,
    Predict,
    Reply,
    StreamPart,
    UnloadModel,
    WorkerMessage,
)
from loadmaster import logs
from loadmaster.oip import errors
from loadmaster.oip.types import Parameters, Tensor

log = logs.get_logger("agent.workers")

_END = object()


class WorkerCrashed(errors.OIPError):
    """The worker running a request died; the request may be retried elsewhere."""

    http_status = 503
    grpc_code = "UNAVAILABLE"


class LoadFailed(errors.OIPError):
    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


_ERROR_KINDS: dict[str, type[errors.OIPError]] = {
    "BadRequest": errors.BadRequest,
    "ModelNotFound": errors.ModelNotFound,
    "ModelNotReady": errors.ModelNotReady,
    "PayloadTooLarge": errors.PayloadTooLarge,
    "InferenceFailed": errors.InferenceFailed,
    "RuntimeFailure": LoadFailed,
}


def _raise_for(reply: Reply) -> None:
    if reply.error_kind:
        raise _ERROR_KINDS.get(reply.error_kind, errors.InferenceFailed)(reply.error)


@dataclass(frozen=True, slots=True)
class _HeldModel:
    name: str
    model_dir: str
    capabilities: frozenset[str]


class WorkerProcess:
    """One worker: its process, its socket, and the calls awaiting its answers."""

    def __init__(self, index: int, threads: int) -> None:
        self.index = index
        self._threads = threads
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._streams: dict[int, asyncio.Queue[object]] = {}
        self._ids = itertools.count(1)
        self.in_flight = 0
        self.alive = False
        self.models: set[str] = set()

    async def start(self) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(self._threads))
        env.setdefault("MKL_NUM_THREADS", str(self._threads))
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "agent.workers.child",
            "--fd",
            str(child.fileno()),
            pass_fds=(child.fileno(),),
            env=env,
        )
        child.close()
        reader, self._writer = await asyncio.open_connection(sock=parent)
        self.alive = True
        self.models = set()
        self._reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message: AgentMessage = await read_frame(reader)
                self._deliver(message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.alive = False
            self._fail_all()

    def _deliver(self, message: AgentMessage) -> None:
        if isinstance(message, StreamPart):
            queue = self._streams.get(message.call_id)
            if queue is not None:
                queue.put_nowait(message.outputs)
            return
        queue = self._streams.pop(message.call_id, None)
        if queue is not None:
            queue.put_nowait(message)
            queue.put_nowait(_END)
            return
        future = self._pending.pop(message.call_id, None)
        if future is not None and not future.done():
            future.set_result(message)

    def _fail_all(self) -> None:
        code = self._process.returncode if self._process else None
        error = WorkerCrashed(
            f"worker {self.index} exited (code {code}) while running this request; "
            "it is being restarted"
        )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        for queue in self._streams.values():
            queue.put_nowait(error)
            queue.put_nowait(_END)
        self._pending.clear()
        self._streams.clear()

    def _send(self, message: WorkerMessage) -> None:
        if not self.alive or self._writer is None:
            raise WorkerCrashed(f"worker {self.index} is not running")
        self._writer.write(encode_frame(message))

    def next_id(self) -> int:
        return next(self._ids)

    async def call(self, message: LoadModel | UnloadModel | Predict) -> Reply:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[message.call_id] = future
        self.in_flight += 1
        try:
            self._send(message)
            return await future
        finally:
            self.in_flight -= 1
            self._pending.pop(message.call_id, None)

    async def stream(self, message: Predict) -> AsyncIterator[tuple[Tensor, ...]]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._streams[message.call_id] = queue
        self.in_flight += 1
        try:
            self._send(message)
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, Reply):
                    _raise_for(item)
                    continue
                assert isinstance(item, tuple)
                yield item
        finally:
            self.in_flight -= 1
            self._streams.pop(message.call_id, None)

    async def wait(self) -> int:
        assert self._process is not None
        return await self._process.wait()

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._process is not None and self._process.returncode is None:
            try:
                await asyncio.wait_for(self._process.wait(), timeout=5)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()


class WorkerPool:
    """N workers behind one call interface; supervises and restarts them."""

    def __init__(self, size: int, on_restart: Callable[[], None] | None = None) -> None:
        if size < 1:
            raise ValueError("parallel workers must be at least 1")
        threads = max(1, (os.cpu_count() or 1) // size)
        self.workers = [WorkerProcess(i, threads) for i in range(size)]
        self._held: dict[str, _HeldModel] = {}
        self._supervisors: list[asyncio.Task[None]] = []
        self._closing = False
        self._rotation = itertools.count()
        self._on_restart = on_restart

    async def start(self) -> None:
        await asyncio.gather(*(w.start() for w in self.workers))
        self._supervisors = [asyncio.create_task(self._supervise(w)) for w in self.workers]

    async def _supervise(self, worker: WorkerProcess) -> None:
        backoff = 0.2
        while not self._closing:
            code = await worker.wait()
            if self._closing:
                return
            log.warning("worker exited; restarting", worker=worker.index, code=code)
            await asyncio.sleep(backoff)
            try:
                await worker.start()
                for key, held in list(self._held.items()):
                    await self._load_on(worker, key, held)
                if self._on_restart is not None:
                    self._on_restart()
                backoff = 0.2
            except Exception as exc:  # keep supervising: the next exit is awaited again
                log.error("worker restart failed", worker=worker.index, error=str(exc))
                backoff = min(backoff * 2, 10.0)

    async def _load_on(self, worker: WorkerProcess, key: str, held: _HeldModel) -> Loaded:
        reply = await worker.call(
            LoadModel(worker.next_id(), key, held.name, held.model_dir, held.capabilities)
        )
        _raise_for(reply)
        assert isinstance(reply.value, Loaded)
        worker.models.add(key)
        return reply.value

    async def load(
        self, key: str, name: str, model_dir: str, capabilities: frozenset[str]
    ) -> Loaded:
        """Load on every worker; if any fails, unload from the others and raise."""
        held = _HeldModel(name, model_dir, capabilities)
        results = await asyncio.gather(
            *(self._load_on(w, key, held) for w in self.workers), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await self.unload(key)
            raise failures[0]
        self._held[key] = held
        loaded = [r for r in results if isinstance(r, Loaded)]
        return loaded[0]

    async def unload(self, key: str) -> None:
        self._held.pop(key, None)
        holders = [w for w in self.workers if w.alive and key in w.models]
        for worker in holders:
            worker.models.discard(key)
        await asyncio.gather(
            *(w.call(UnloadModel(w.next_id(), key)) for w in holders), return_exceptions=True
        )

    def _pick(self, key: str) -> WorkerProcess:
        ready = [w for w in self.workers if w.alive and key in w.models]
        if not ready:
            raise errors.ModelNotReady("no worker holds the model right now (restarting)")
        start = next(self._rotation) % len(ready)
        ordered = ready[start:] + ready[:start]
        return min(ordered, key=lambda w: w.in_flight)

    async def predict(
        self, key: str, inputs: tuple[Tensor, ...], parameters: Parameters
    ) -> tuple[Tensor, ...]:
        worker = self._pick(key)
        reply = await worker.call(Predict(worker.next_id(), key, inputs, parameters))
        _raise_for(reply)
        assert isinstance(reply.value, tuple)
        return reply.value

    async def predict_stream(
        self, key: str, inputs: tuple[Tensor, ...], parameters: Parameters
    ) -> AsyncIterator[tuple[Tensor, ...]]:
        worker = self._pick(key)
        async for part in worker.stream(
            Predict(worker.next_id(), key, inputs, parameters, stream=True)
        ):
            yield part

    async def close(self) -> None:
        self._closing = True
        for task in self._supervisors:
            task.cancel()
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
