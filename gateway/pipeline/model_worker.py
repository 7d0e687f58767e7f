"""The model worker: runs pipeline steps by calling their models through the gateway.

It is one member of the group `<prefix>.<ns>.model-workers` over `model.<m>.inputs` of every
model a loaded pipeline uses, so adding workers adds throughput. Each record is a step's
request; the answer goes to `model.<m>.outputs` with the same envelope, a failure to the errors
topic as an `ErrorRecord`, so the gateway answers with the model's own status and message
instead of waiting for its deadline.

Records are handled concurrently, up to `max_in_flight` (fetching pauses while that many are
running), because a step's latency is the model's and one worker must keep many models busy.
An offset is committed only once the record's answer or error was acknowledged by the broker
(`OffsetTracker`), in batches. Delivery is therefore at-least-once: a step already answered
recently, or running now, is not called again (the copy waits for the first to finish, so its
offset is never committed before the first's answer is out).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from gateway.pipeline.model_call import (
    GatewayUnreachable,
    HttpModelCall,
    ModelAnswer,
    ModelCall,
    failure_message,
    failure_status,
)
from gateway.pipeline.table import PipelineEntry
from gateway.pipeline.worker_io import WorkerIO, wall_ms
from gateway.pipeline.worker_metrics import Outcome, WorkerMetrics
from loadmaster import logs
from loadmaster.kafka.bus import Bus, Record
from loadmaster.kafka.config import KafkaConfig
from loadmaster.kafka.records import BadRecord, Envelope, ErrorRecord, Kind, envelope_of
from loadmaster.kafka.topics import Topics

log = logs.get_logger("gateway.pipeline.model_worker")

ROLE = "model"
RECENT_DONE = 65_536  # (request, step) pairs remembered as answered, for de-duplication
Sleep = Callable[[float], Awaitable[None]]
StepKey = tuple[str, str]  # (request, step)


class ModelWorker:
    """A `PipelineWorker` that answers `model.<m>.inputs` records by calling the step's model
    (as the pipeline's current spec names it, which is also where the answer goes).

    Cancel `run` first, then `close`: it lets the records in flight finish for up to
    `drain_s`, commits what finished, and leaves the group so the partitions move at once.
    `clock` (unix ms) and `sleep` (retry back-off) are injectable for tests.
    """

    def __init__(
        self,
        bus: Bus,
        config: KafkaConfig,
        gateway_url: str,
        metrics: WorkerMetrics,
        *,
        client_id: str,
        max_in_flight: int = 256,
        call: ModelCall | None = None,
        clock: Callable[[], int] = wall_ms,
        sleep: Sleep = asyncio.sleep,
        commit_interval_s: float = 0.02,
        drain_s: float = 1.0,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.group = f"{config.prefix}.{config.namespace}.model-workers"
        self.gateway_url = gateway_url
        self._topics = Topics.of(config)
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._drain_s = drain_s
        self._own_call: HttpModelCall | None = None
        if call is None:
            call = self._own_call = HttpModelCall(gateway_url, max_in_flight)
        self._call = call
        self._io = WorkerIO(
            bus,
            self.group,
            client_id,
            metrics,
            role=ROLE,
            max_in_flight=max_in_flight,
            max_poll_records=config.max_poll_records,
            handle=self._handle,
            clock=clock,
            sleep=sleep,
            commit_interval_s=commit_interval_s,
        )
        self._pipelines: Mapping[str, PipelineEntry] = {}
        self._running: dict[StepKey, asyncio.Event] = {}
        self._done: OrderedDict[StepKey, None] = OrderedDict()

    @property
    def subscribed(self) -> frozenset[str]:
        """The topics subscribed to now."""
        return self._io.subscribed

    # ---- PipelineWorker -----------------------------------------------------------------

    def set_pipelines(self, pipelines: Mapping[str, PipelineEntry]) -> None:
        self._pipelines = dict(pipelines)
        models = {m for entry in pipelines.values() for m in entry.spec.models}
        self._io.want(frozenset(self._topics.model_inputs(m) for m in models))

    async def run(self) -> None:
        await self._io.run()

    async def close(self) -> None:
        try:
            await self._io.close(self._drain_s)
        finally:
            if self._own_call is not None:
                self._own_call.close()

    # ---- one record ---------------------------------------------------------------------

    async def _handle(self, record: Record) -> Outcome:
        now = self._clock()
        self._metrics.consume_seconds.labels(record.topic).observe(
            max(now - record.timestamp_ms, 0) / 1000
        )
        try:
            env = envelope_of(record)
        except BadRecord as exc:
            log.warning("skipping a record that is not a step request", problem=str(exc))
            return Outcome.BAD
        if env.kind is not Kind.DATA or not env.step:
            log.warning(
                "skipping a record that is not a step request",
                problem=f"{record.topic}@{record.offset}: kind {env.kind.value!r}, "
                f"step {env.step!r}",
            )
            return Outcome.BAD
        if env.expired(now):
            return Outcome.EXPIRED
        key = (env.request, env.step)
        if key in self._done:
            return Outcome.DUPLICATE
        first = self._running.get(key)
        if first is not None:
            await first.wait()
            return Outcome.DUPLICATE
        mine = self._running[key] = asyncio.Event()
        try:
            outcome = await self._run_step(env, record.value)
        finally:
            del self._running[key]
            mine.set()
        if outcome in (Outcome.DONE, Outcome.FAILED):
            self._remember(key)
        return outcome

    def _remember(self, key: StepKey) -> None:
        self._done[key] = None
        if len(self._done) > RECENT_DONE:
            self._done.popitem(last=False)

    async def _run_step(self, env: Envelope, body: bytes) -> Outcome:
        entry = self._pipelines.get(env.pipeline)
        step = entry.spec.step(env.step) if entry is not None else None
        if entry is None:
            message = f"pipeline {env.pipeline!r} is not loaded"
            return await self._fail(env, ErrorRecord(env.pipeline, env.step, "", 404, message))
        if step is None:
            steps = ", ".join(s.name for s in entry.spec.steps)
            message = (
                f"pipeline {env.pipeline!r} (version {entry.version}) has no step "
                f"{env.step!r} (it has: {steps})"
            )
            return await self._fail(env, ErrorRecord(env.pipeline, env.step, "", 400, message))
        answer = await self._call_model(env, step.model, body)
        if answer is None:
            return Outcome.EXPIRED
        if isinstance(answer, ErrorRecord):
            return await self._fail(env, answer)
        if answer.status != 200:
            status, message = failure_status(answer.status), failure_message(answer)
            error = ErrorRecord(env.pipeline, env.step, step.model, status, message)
            return await self._fail(env, error)
        out = replace(env, kind=Kind.DATA, header_length=answer.header_length, reason="")
        sent = await self._io.produce(self._topics.model_outputs(step.model), answer.body, out)
        return Outcome.DONE if sent else Outcome.EXPIRED

    async def _call_model(
        self, env: Envelope, model: str, body: bytes
    ) -> ModelAnswer | ErrorRecord | None:
        """The model's answer; an ErrorRecord when the gateway stayed unreachable until the
        deadline was too close for another try; None when the deadline passed (nobody waits)."""
        delay = WorkerIO.RETRY_FIRST_S
        while True:
            left_ms = env.deadline_ms - self._clock()
            if left_ms <= 0:
                return None
            started = time.perf_counter()
            try:
                async with asyncio.timeout(left_ms / 1000):
                    answer = await self._call(model, body, env.header_length, left_ms, env.request)
            except TimeoutError:
                return None
            except GatewayUnreachable as exc:
                if self._clock() + delay * 1000 >= env.deadline_ms:
                    message = f"model worker cannot reach the gateway at {self.gateway_url}: {exc}"
                    return ErrorRecord(env.pipeline, env.step, model, 503, message)
                log.warning(
                    "gateway unreachable; retrying", gateway=self.gateway_url, problem=str(exc)
                )
                await self._sleep(delay)
                delay = min(delay * 2, WorkerIO.RETRY_MAX_S)
                continue
            self._metrics.step_seconds.labels(env.pipeline, env.step).observe(
                time.perf_counter() - started
            )
            return None if env.expired(self._clock()) else answer

    async def _fail(self, env: Envelope, error: ErrorRecord) -> Outcome:
        self._metrics.step_errors.labels(env.pipeline, env.step, str(error.status)).inc()
        out = replace(env, kind=Kind.ERROR, header_length=None, reason="")
        sent = await self._io.produce(self._topics.errors, error.to_json(), out)
        return Outcome.FAILED if sent else Outcome.EXPIRED
