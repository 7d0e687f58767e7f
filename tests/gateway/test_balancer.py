"""Least outstanding requests with two random choices: counts, exclusion, determinism."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.balancer import Balancer
from gateway.routes import Endpoint

A, B, C = (Endpoint(s, 1, f"{s}:9000", f"{s}:9500") for s in "abc")


def test_no_candidates_and_one_candidate() -> None:
    balancer = Balancer(random.Random(0))
    assert balancer.choose(()) is None
    assert balancer.choose((A,)) == A
    assert balancer.choose((A,), exclude={A}) is None
    assert balancer.choose((A, B), exclude={A}) == B


def test_exclude_matches_by_server_and_version() -> None:
    moved = Endpoint("a", 1, "elsewhere:1", "elsewhere:2")  # same replica, new address
    assert Balancer(random.Random(0)).choose((A, B), exclude={moved}) == B


def test_the_less_busy_of_two_wins() -> None:
    balancer = Balancer(random.Random(0))
    for _ in range(3):
        balancer.acquire(A)
    # with two candidates both are always drawn, so the idle one wins every time
    assert {balancer.choose((A, B)) for _ in range(50)} == {B}


def test_seeded_choices_repeat_and_spread() -> None:
    first, second = Balancer(random.Random(7)), Balancer(random.Random(7))
    assert [first.choose((A, B, C)) for _ in range(20)] == [
        second.choose((A, B, C)) for _ in range(20)
    ]
    balancer = Balancer(random.Random(7))
    seen = {balancer.choose((A, B, C)) for _ in range(100)}
    assert seen == {A, B, C}  # all idle: ties go to a random one, so every replica gets traffic


def test_busiest_replica_is_never_chosen_among_three() -> None:
    balancer = Balancer(random.Random(1))
    balancer.acquire(C)
    balancer.acquire(C)
    balancer.acquire(B)
    counts = {A: 0, B: 0, C: 0}
    for _ in range(300):
        chosen = balancer.choose((A, B, C))
        assert chosen is not None
        counts[chosen] += 1
    assert counts[C] == 0  # whichever it is drawn with, the other is less busy
    assert counts[A] > counts[B]  # A wins both of its pairs, B only the one with C


def test_release_forgets_idle_replicas() -> None:
    balancer = Balancer()
    balancer.acquire(A)
    balancer.acquire(A)
    balancer.release(A)
    assert balancer.outstanding(A) == 1
    balancer.release(A)
    balancer.release(A)  # an extra release never goes negative
    assert balancer.outstanding(A) == 0
    assert balancer._in_flight == {}


async def test_using_counts_and_releases_on_cancellation() -> None:
    balancer = Balancer()
    entered = asyncio.Event()

    async def busy() -> None:
        async with balancer.using(A):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(busy())
    await entered.wait()
    assert balancer.outstanding(A) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert balancer.outstanding(A) == 0
