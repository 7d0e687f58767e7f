"""The dataflow of every pipeline, as pure logic: a consumed record in, the records to send out.

For each arrival (the pipeline's request, or one step's answer or skip) the engine feeds the
join of every target that takes that source, for that request, and turns each decision into
one record (`dataflow_effects`). It keeps the open joins per request and remembers decided
targets (`dataflow_memory`), so a redelivered record changes nothing. It does no I/O and reads
no clock: the worker passes `now` (monotonic seconds, for join windows) and `now_ms` (unix
milliseconds, for deadlines), so tests drive time by hand.

A request is *finished* once its output fired or was skipped, or anything of it failed: the
gateway has its answer then, so its open joins are dropped and later arrivals do nothing. A
request whose deadline passes is dropped silently: the gateway already answered 504.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.pipeline.dataflow_effects import Effects, Emit
from gateway.pipeline.dataflow_memory import DEFAULT_CAPACITY, DecidedTargets
from gateway.pipeline.graph import OUTPUT, PipelineGraph, Target
from gateway.pipeline.join import (
    Arrival,
    Decision,
    Fail,
    Fire,
    Skip,
    TargetJoin,
    Wait,
    window_due,
)
from gateway.pipeline.step_io import (
    StepIOError,
    pipeline_input,
    select_tensors,
    step_output,
    step_skipped,
)
from gateway.pipeline.worker_metrics import Outcome
from loadmaster.kafka.bus import Record
from loadmaster.kafka.records import BadRecord, Envelope, Kind, envelope_of
from loadmaster.kafka.topics import Topics
from loadmaster.resources.pipeline_refs import PIPELINE


@dataclass(frozen=True, slots=True)
class Handled:
    outcome: Outcome
    emits: tuple[Emit, ...] = ()


@dataclass(slots=True)
class _Request:
    graph: PipelineGraph  # as it was at the request's first arrival
    base: Envelope  # the request's envelope: no step, kind data
    joins: dict[str, TargetJoin] = field(default_factory=dict)


class DataflowEngine:
    def __init__(self, topics: Topics, *, remember: int = DEFAULT_CAPACITY) -> None:
        self.topics = topics
        self._effects = Effects(topics)
        self._graphs: dict[str, PipelineGraph] = {}
        self._requests: dict[str, _Request] = {}
        self._decided = DecidedTargets(remember)
        self._windows: list[tuple[float, int, str, str]] = []  # (ends, seq, request, target)
        self._deadlines: list[tuple[int, int, str]] = []  # (deadline ms, seq, request)
        self._seq = itertools.count()

    @property
    def open_requests(self) -> int:
        return len(self._requests)

    def set_graphs(self, graphs: Mapping[str, PipelineGraph]) -> None:
        """The pipelines to run; open requests of pipelines that left are dropped."""
        self._graphs = dict(graphs)
        for request, state in list(self._requests.items()):
            if state.graph.name not in self._graphs:
                del self._requests[request]

    def next_window(self) -> float | None:
        """When the earliest open join window ends (monotonic seconds), if any."""
        return self._windows[0][0] if self._windows else None

    # ---- arrivals -----------------------------------------------------------------------

    def handle(self, record: Record, now: float, now_ms: int) -> Handled:
        try:
            envelope = envelope_of(record)
        except BadRecord:
            return Handled(Outcome.BAD)
        if envelope.expired(now_ms):
            return Handled(Outcome.EXPIRED)
        request = envelope.request
        state = self._requests.get(request)
        graph = self._graphs.get(envelope.pipeline) if state is None else state.graph
        source = self._source_of(record, envelope, graph) if graph is not None else None
        if graph is None or source is None:
            return Handled(Outcome.BAD)
        if self._decided.has(request, OUTPUT, now_ms):
            return Handled(Outcome.DUPLICATE)
        takers = [
            target
            for target in graph.takers(source)
            if not self._decided.has(request, target.name, now_ms)
            and not (state is not None and _joined(state, target, source))
        ]
        if not takers:
            return Handled(Outcome.DUPLICATE if graph.takers(source) else Outcome.DONE)
        base = state.base if state is not None else _base_of(envelope)
        try:
            arrival = self._arrival(record, envelope, graph, source)
        except StepIOError as exc:
            culprit = graph.target(source) if source != PIPELINE else None
            emit = self._effects.failed(base, culprit, exc.status, exc.message)
            self._finish(request, base)
            return Handled(Outcome.FAILED, (emit,))
        if state is None:
            state = self._open(graph, base)
        emits: list[Emit] = []
        for target in takers:
            join = state.joins.get(target.name)
            if join is None:
                join = self._open_join(state, target, now)
            made = self._settle(state, join, join.feed(arrival, now))
            if made is not None:
                emits.append(made)
            if request not in self._requests:
                break  # finished: the rest no longer matters
        if any(emit.topic == self.topics.errors for emit in emits):
            outcome = Outcome.FAILED
        else:
            outcome = Outcome.SKIPPED if arrival.skipped else Outcome.DONE
        return Handled(outcome, tuple(emits))

    def _source_of(self, record: Record, envelope: Envelope, graph: PipelineGraph) -> str | None:
        if record.topic == self.topics.pipeline_inputs(graph.name):
            return PIPELINE if envelope.kind is Kind.DATA else None
        model = graph.step_model(envelope.step)
        if model is None or record.topic != self.topics.model_outputs(model):
            return None
        return envelope.step if envelope.kind in (Kind.DATA, Kind.SKIP) else None

    @staticmethod
    def _arrival(record: Record, envelope: Envelope, graph: PipelineGraph, source: str) -> Arrival:
        if source == PIPELINE:
            return pipeline_input(record.value, envelope.header_length, graph.name)
        if envelope.kind is Kind.SKIP:
            return step_skipped(source, envelope.reason)
        return step_output(record.value, envelope.header_length, source)

    def _open(self, graph: PipelineGraph, base: Envelope) -> _Request:
        state = _Request(graph, base)
        self._requests[base.request] = state
        heapq.heappush(self._deadlines, (base.deadline_ms, next(self._seq), base.request))
        return state

    def _open_join(self, state: _Request, target: Target, now: float) -> TargetJoin:
        join = TargetJoin(target, now)
        state.joins[target.name] = join
        ends = join.window_ends_at
        if ends is not None:
            entry = (ends, next(self._seq), state.base.request, target.name)
            heapq.heappush(self._windows, entry)
        return join

    # ---- decisions ----------------------------------------------------------------------

    def _settle(self, state: _Request, join: TargetJoin, decision: Decision) -> Emit | None:
        """The record `decision` produces; a decided target leaves the open joins."""
        if isinstance(decision, Wait):
            return None
        target, base = join.target, state.base
        del state.joins[target.name]
        self._decided.add(base.request, target.name, base.deadline_ms)
        if isinstance(decision, Fire):
            try:
                tensors = select_tensors(target, decision.arrivals)
            except StepIOError as exc:
                decision = Fail(exc.status, exc.message)
        if isinstance(decision, Fail) or target.is_output:
            self._finish(base.request, base)
        if isinstance(decision, Fire):
            return self._effects.fired(base, target, tensors)
        if isinstance(decision, Skip):
            return self._effects.skipped(base, target, decision.reason)
        culprit = None if target.is_output else target
        return self._effects.failed(base, culprit, decision.status, decision.message)

    def _finish(self, request: str, base: Envelope) -> None:
        self._decided.add(request, OUTPUT, base.deadline_ms)
        self._requests.pop(request, None)

    # ---- time ---------------------------------------------------------------------------

    def expire(self, now: float, now_ms: int) -> list[Emit]:
        """Drop requests past their deadline (silently), then decide the joins whose window
        ended: an inner join still waiting fails with 504, an outer one fires with what it has.
        """
        while self._deadlines and self._deadlines[0][0] <= now_ms:
            _, _, request = heapq.heappop(self._deadlines)
            state = self._requests.get(request)
            if state is not None and state.base.deadline_ms <= now_ms:
                del self._requests[request]
        self._decided.forget_expired(now_ms)
        emits: list[Emit] = []
        while self._windows and window_due(self._windows[0][0], now):
            _, _, request, name = heapq.heappop(self._windows)
            state = self._requests.get(request)
            join = state.joins.get(name) if state is not None else None
            if state is None or join is None:
                continue
            made = self._settle(state, join, join.decide(now))
            if made is not None:
                emits.append(made)
        return emits


def _joined(state: _Request, target: Target, source: str) -> bool:
    join = state.joins.get(target.name)
    return join is not None and join.joined(source)


def _base_of(envelope: Envelope) -> Envelope:
    return dataclasses.replace(envelope, step="", kind=Kind.DATA, header_length=None, reason="")
