"""The worker process: loads runtimes and runs predictions for the agent.

Started by `WorkerPool` as `python -m agent.workers.child --fd N`, it talks to the agent over
the inherited socket. Loads run on their own thread so that loading one model never stalls
inference of the others; inference runs on one thread (torch parallelises inside an op).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import psutil

from agent.runtimes.base import Runtime, RuntimeFailure
from agent.runtimes.device import cuda_memory_allocated
from agent.runtimes.select import create_runtime
from agent.workers.framing import encode_frame, recv_frame
from agent.workers.messages import (
    AgentMessage,
    Loaded,
    LoadModel,
    Predict,
    Reply,
    StreamPart,
    UnloadModel,
)
from loadmaster.oip.errors import OIPError


class Worker:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._send_lock = threading.Lock()
        self._runtimes: dict[str, Runtime] = {}
        self._infer = ThreadPoolExecutor(1, thread_name_prefix="infer")
        self._load = ThreadPoolExecutor(1, thread_name_prefix="load")
        self._process = psutil.Process()

    def send(self, message: AgentMessage) -> None:
        frame = encode_frame(message)
        with self._send_lock:
            self._sock.sendall(frame)

    def serve(self) -> None:
        while True:
            try:
                message = recv_frame(self._sock)
            except (EOFError, OSError):
                return  # the agent is gone: so are we
            if isinstance(message, Predict):
                self._infer.submit(self._guard, message.call_id, partial(self._predict, message))
            elif isinstance(message, LoadModel):
                self._load.submit(self._guard, message.call_id, partial(self._load_model, message))
            elif isinstance(message, UnloadModel):
                self._load.submit(
                    self._guard, message.call_id, partial(self._unload_model, message)
                )

    def _guard(self, call_id: int, work: Callable[[], None]) -> None:
        """Run `work`; any failure becomes an error reply for this call alone."""
        try:
            work()
        except OIPError as exc:
            self.send(Reply(call_id, error_kind=type(exc).__name__, error=exc.message))
        except RuntimeFailure as exc:
            self.send(Reply(call_id, error_kind="RuntimeFailure", error=str(exc)))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.send(Reply(call_id, error_kind="InferenceFailed", error=error))

    def _predict(self, message: Predict) -> None:
        runtime = self._runtimes.get(message.key)
        if runtime is None:
            error = "model is not loaded in this worker"
            self.send(Reply(message.call_id, error_kind="ModelNotReady", error=error))
            return
        if message.stream:
            for part in runtime.predict_stream(message.inputs, message.parameters):
                self.send(StreamPart(message.call_id, tuple(part)))
            self.send(Reply(message.call_id))
            return
        outputs = runtime.predict(message.inputs, message.parameters)
        self.send(Reply(message.call_id, value=tuple(outputs)))

    def _load_model(self, message: LoadModel) -> None:
        old = self._runtimes.pop(message.key, None)
        if old is not None:
            old.unload()
        rss_before = self._process.memory_info().rss
        runtime = create_runtime(message.name, Path(message.model_dir), message.capabilities)
        cuda_before = cuda_memory_allocated(runtime.device)
        timings = runtime.load()
        signature = runtime.signature()
        settings = runtime.settings
        self._runtimes[message.key] = runtime
        loaded = Loaded(
            platform=runtime.platform,
            inputs=signature.inputs,
            outputs=signature.outputs,
            max_batch_size=settings.max_batch_size,
            max_batch_time_ms=settings.max_batch_time_ms,
            default_parameters=dict(settings.parameters),
            device=runtime.device,
            deserialize_s=timings.deserialize_s,
            to_device_s=timings.to_device_s,
            warmup_s=timings.warmup_s,
            rss_bytes=max(0, self._process.memory_info().rss - rss_before),
            cuda_bytes=max(0, cuda_memory_allocated(runtime.device) - cuda_before),
        )
        self.send(Reply(message.call_id, value=loaded))

    def _unload_model(self, message: UnloadModel) -> None:
        runtime = self._runtimes.pop(message.key, None)
        if runtime is not None:
            runtime.unload()
        self.send(Reply(message.call_id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Loadmaster agent worker (started by the agent)")
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    Worker(sock).serve()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown of torch's thread pools


if __name__ == "__main__":
    sys.exit(main())
