"""The join of one target for one request: which sources arrived, and whether it fires yet.

A target waits for its sources under its join types (brief §6, Seldon Core v2 semantics):

* inner: every source, with data; a skipped source means the target cannot run (skipped);
* outer: every source, or until the join window closes, then with the data that arrived;
* any: the first source that arrives with data (later ones are ignored).

Triggers join the same way, per trigger reference: a reference *fires* when its source
arrived with the named tensor (or, for a whole-source reference, with data at all); a source
that was skipped or answered without the tensor means that reference cannot fire. A window of
0 means no window: the join waits until the request's deadline, when the engine drops it.

This module is pure: time is passed in (seconds of a monotonic clock), so every path is
tested with a fake clock. Selecting and renaming the tensors is `step_io`'s job; a `Fire`
carries the arrivals to take them from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from gateway.pipeline.graph import Target
from loadmaster.oip.types import Tensor
from loadmaster.resources.pipeline_refs import PIPELINE, TensorRef
from loadmaster.resources.pipeline_spec import JoinType

WINDOW_EXPIRED_STATUS = 504
_CLOCK_SLACK_S = 1e-6  # a window of 50 ms has passed after 49 ms + 1 ms in float seconds too


def window_due(ends: float, now: float) -> bool:
    """Whether a window ending at `ends` has closed at `now` (both monotonic seconds)."""
    return now >= ends - _CLOCK_SLACK_S


def source_label(source: str) -> str:
    return "the pipeline request" if source == PIPELINE else f"step {source!r}"


@dataclass(frozen=True, slots=True)
class Arrival:
    """A source's contribution to a request: its tensors, or None when it was skipped."""

    source: str
    tensors: tuple[Tensor, ...] | None
    reason: str = ""  # why it was skipped

    @property
    def skipped(self) -> bool:
        return self.tensors is None

    def tensor(self, name: str) -> Tensor | None:
        return next((t for t in self.tensors or () if t.name == name), None)

    def names(self) -> str:
        """The tensor names as messages list them."""
        return ", ".join(t.name for t in self.tensors or ()) or "no tensors"

    def what_happened(self) -> str:
        """For a message: what this source did instead of providing a reference's tensor."""
        if self.skipped:
            return self.reason or f"{source_label(self.source)} did not run"
        verb = "carried" if self.source == PIPELINE else "answered with"
        return f"{source_label(self.source)} {verb} {self.names()}"


@dataclass(frozen=True, slots=True)
class Wait:
    pass


@dataclass(frozen=True, slots=True)
class Fire:
    arrivals: tuple[Arrival, ...]  # data arrivals of input sources to take tensors from


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str  # why, without the target's own name (the caller says whose)


@dataclass(frozen=True, slots=True)
class Fail:
    status: int
    message: str


Decision = Wait | Fire | Skip | Fail
WAIT = Wait()


class Presence(Enum):
    PENDING = "pending"  # not arrived yet
    PRESENT = "present"  # arrived with data (for a trigger: with its tensor)
    ABSENT = "absent"  # skipped (for a trigger: or arrived without its tensor)


class Verdict(Enum):
    WAIT = "wait"
    READY = "ready"
    BLOCKED = "blocked"  # can never become ready: the target is skipped


def join_verdict(parts: Sequence[Presence], join: JoinType, window_passed: bool) -> Verdict:
    """Whether parts joined by `join` are ready, blocked or still to wait for."""
    pending = Presence.PENDING in parts
    present = Presence.PRESENT in parts
    if join is JoinType.INNER:
        if Presence.ABSENT in parts:
            return Verdict.BLOCKED
        return Verdict.WAIT if pending else Verdict.READY
    if not pending and not present:
        return Verdict.BLOCKED
    if present and (join is JoinType.ANY or not pending or window_passed):
        return Verdict.READY
    return Verdict.WAIT


class TargetJoin:
    """One target's join for one request, opened at the first arrival for it (the window
    runs from then). Arrivals of a source it already has are the caller's to ignore."""

    def __init__(self, target: Target, opened_at: float) -> None:
        self.target = target
        self.opened_at = opened_at
        self.arrivals: dict[str, Arrival] = {}
        self._first_data: str | None = None  # the input source an `any` join takes

    @property
    def window_ends_at(self) -> float | None:
        window = self.target.window_ms
        return self.opened_at + window / 1000 if window > 0 else None

    def joined(self, source: str) -> bool:
        return source in self.arrivals

    def feed(self, arrival: Arrival, now: float) -> Decision:
        self.arrivals[arrival.source] = arrival
        if (
            self._first_data is None
            and not arrival.skipped
            and arrival.source in self.target.input_sources
        ):
            self._first_data = arrival.source
        return self.decide(now)

    def decide(self, now: float) -> Decision:
        target = self.target
        ends = self.window_ends_at
        passed = ends is not None and window_due(ends, now)
        inputs = [self._source_presence(s) for s in target.input_sources]
        triggers = [self._trigger_presence(ref) for ref in target.triggers]
        by_inputs = join_verdict(inputs, target.inputs_join, passed)
        by_triggers = (
            join_verdict(triggers, target.triggers_join, passed) if triggers else Verdict.READY
        )
        if by_triggers is Verdict.BLOCKED:
            return Skip(self._trigger_reason())
        if by_inputs is Verdict.BLOCKED:
            return Skip(self._input_reason())
        if by_inputs is Verdict.READY and by_triggers is Verdict.READY:
            return Fire(self._chosen())
        if passed:
            waiting = self._inner_pending(by_inputs, by_triggers)
            if waiting:
                return Fail(
                    WINDOW_EXPIRED_STATUS,
                    f"{target.label}: inner join window of {target.window_ms} ms expired "
                    f"waiting for {', '.join(waiting)}",
                )
        return WAIT

    # ---- helpers ------------------------------------------------------------------------

    def _source_presence(self, source: str) -> Presence:
        arrival = self.arrivals.get(source)
        if arrival is None:
            return Presence.PENDING
        return Presence.ABSENT if arrival.skipped else Presence.PRESENT

    def _trigger_presence(self, ref: TensorRef) -> Presence:
        arrival = self.arrivals.get(ref.source)
        if arrival is None:
            return Presence.PENDING
        if arrival.skipped or (ref.tensor and arrival.tensor(ref.tensor) is None):
            return Presence.ABSENT
        return Presence.PRESENT

    def _chosen(self) -> tuple[Arrival, ...]:
        if self.target.inputs_join is JoinType.ANY and self._first_data is not None:
            return (self.arrivals[self._first_data],)
        found = (self.arrivals.get(s) for s in self.target.input_sources)
        return tuple(a for a in found if a is not None and not a.skipped)

    def _trigger_reason(self) -> str:
        failed = [
            f"trigger {ref.text!r} did not fire ({self.arrivals[ref.source].what_happened()})"
            for ref in self.target.triggers
            if self._trigger_presence(ref) is Presence.ABSENT
        ]
        if self.target.triggers_join is JoinType.INNER:
            return failed[0]
        return "no trigger fired: " + "; ".join(failed)

    def _input_reason(self) -> str:
        skipped = [
            self.arrivals[s].what_happened()
            for s in self.target.input_sources
            if self._source_presence(s) is Presence.ABSENT
        ]
        if self.target.inputs_join is JoinType.INNER:
            return skipped[0]
        return "; ".join(dict.fromkeys(skipped))

    def _inner_pending(self, by_inputs: Verdict, by_triggers: Verdict) -> list[str]:
        target = self.target
        waiting: list[str] = []
        if by_inputs is Verdict.WAIT and target.inputs_join is JoinType.INNER:
            waiting += [s for s in target.input_sources if s not in self.arrivals]
        if by_triggers is Verdict.WAIT and target.triggers_join is JoinType.INNER:
            waiting += [s for s in target.trigger_sources if s not in self.arrivals]
        return list(dict.fromkeys(waiting))
