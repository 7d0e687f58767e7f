"""Liveness: expiry on an injected clock, watch versus beat, forget."""

from __future__ import annotations

from scheduler.liveness import Liveness
from tests.scheduler.fakes import FakeClock


def test_expires_only_after_strictly_more_than_the_timeout() -> None:
    clock = FakeClock(100.0)
    live = Liveness(5.0, clock)
    live.beat("a")
    clock.advance(5.0)
    assert live.expired() == []  # exactly the timeout is still alive
    clock.advance(0.001)
    assert live.expired() == ["a"]


def test_a_beat_restarts_the_timeout() -> None:
    clock = FakeClock(0.0)
    live = Liveness(5.0, clock)
    live.beat("a")
    live.beat("b")
    clock.advance(4.0)
    live.beat("a")
    clock.advance(2.0)
    assert live.expired() == ["b"]
    assert live.silent_for("a") == 2.0
    assert live.silent_for("b") == 6.0


def test_watch_starts_the_timeout_without_resetting_a_beat() -> None:
    clock = FakeClock(0.0)
    live = Liveness(5.0, clock)
    live.beat("a")
    clock.advance(3.0)
    live.watch("a")  # already heard from: the beat at 0 stands
    live.watch("b")  # never heard from: its timeout starts now, at 3
    clock.advance(2.5)
    assert live.expired() == ["a"]
    clock.advance(3.0)
    assert live.expired() == ["a", "b"]


def test_expired_servers_are_reported_sorted_until_forgotten() -> None:
    clock = FakeClock(0.0)
    live = Liveness(1.0, clock)
    for name in ("c", "a", "b"):
        live.beat(name)
    clock.advance(2.0)
    assert live.expired() == ["a", "b", "c"]
    assert live.expired() == ["a", "b", "c"]
    live.forget("b")
    assert live.expired() == ["a", "c"]
    assert live.silent_for("b") is None
    live.forget("never-seen")  # forgetting an unknown server is harmless
    live.beat("b")
    assert live.expired() == ["a", "c"]


def test_watch_can_start_the_timeout_later() -> None:
    clock = FakeClock(0.0)
    live = Liveness(5.0, clock)
    live.watch("b", 10.0)  # known from the store: the grace comes first
    assert live.silent_for("b") == -10.0
    clock.advance(15.0)
    assert live.expired() == []
    clock.advance(0.5)
    assert live.expired() == ["b"]
    live.beat("b")
    live.watch("b", 10.0)  # a beat stands
    clock.advance(5.5)
    assert live.expired() == ["b"]
