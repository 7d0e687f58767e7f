from __future__ import annotations

import pytest

from scheduler.placement.wording import TIMES as X
from scheduler.placement.wording import count, free, per_replica

Mi, Gi = 2**20, 2**30


@pytest.mark.parametrize(
    ("available", "needed", "text"),
    [
        (int(1.5 * Gi), 2 * Gi, "1.5Gi"),
        (3 * Gi - 20 * Mi, 3 * Gi, "3052Mi"),  # "3Gi" would read as enough
        (3 * Gi - 1000, 3 * Gi, "3221224472 bytes"),
        (-Gi, Mi, "0"),
        (5 * Gi, Gi, "5Gi"),
    ],
)
def test_free_reads_below_what_is_needed(available: int, needed: int, text: str) -> None:
    assert free(available, needed) == text


@pytest.mark.parametrize(
    ("per_instance", "workers", "what", "text"),
    [
        (512 * Mi, 4, "", f"2Gi per replica (512Mi {X} 4 workers)"),
        (Gi, 1, " of GPU", f"1Gi of GPU per replica (1Gi {X} 1 worker)"),
    ],
)
def test_per_replica(per_instance: int, workers: int, what: str, text: str) -> None:
    assert per_replica(per_instance, workers, what) == text


@pytest.mark.parametrize(("n", "text"), [(0, "0 servers"), (1, "1 server"), (2, "2 servers")])
def test_count(n: int, text: str) -> None:
    assert count(n, "server") == text
