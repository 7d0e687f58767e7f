from __future__ import annotations

import pytest

from scheduler.placement import FleetView, Packing
from scheduler.placement.scorers import choose_device, removal_order
from tests.scheduler.placement.builders import replica, server

GiB = 2**30


@pytest.mark.parametrize(
    ("free", "need", "packing", "expected"),
    [
        ([8, 3, 5], 3, Packing.BEST_FIT, 1),  # tightest fit
        ([8, 3, 5], 4, Packing.BEST_FIT, 2),
        ([8, 3, 5], 4, Packing.SPREAD, 0),  # most free
        ([5, 5], 4, Packing.BEST_FIT, 0),  # ties go to the lower device
        ([5, 5], 4, Packing.SPREAD, 0),
        ([2, 3], 4, Packing.BEST_FIT, None),  # no device has room, even if together they do
        ([], 1, Packing.BEST_FIT, None),
    ],
)
def test_choose_device(free: list[int], need: int, packing: Packing, expected: int | None) -> None:
    assert choose_device([f * GiB for f in free], need * GiB, packing) == expected


@pytest.mark.parametrize(
    ("packing", "expected"),
    [
        # Best-fit empties the server with least in use (c: 1Gi, then b, a: 2Gi each, d: 6Gi);
        # among equals the later name goes first.
        (Packing.BEST_FIT, ["c", "b", "a", "d"]),
        # Spread relieves the server with least free (b: 0, c: 1Gi, a: 6Gi, d: 10Gi).
        (Packing.SPREAD, ["b", "c", "a", "d"]),
    ],
)
def test_removal_order(packing: Packing, expected: list[str]) -> None:
    fleet = FleetView(
        [
            server("a", "8Gi", replicas=[replica(memory="2Gi")]),  # 2Gi used, 6Gi free
            server("b", "2Gi", replicas=[replica(memory="2Gi")]),  # 2Gi used, 0 free
            server("c", "2Gi", replicas=[replica(memory="1Gi")]),  # 1Gi used, 1Gi free
            server("d", "16Gi", replicas=[replica(memory="6Gi")]),  # 6Gi used, 10Gi free
        ]
    )
    order = removal_order(fleet, list(range(len(fleet))), packing)
    assert [fleet.names[i] for i in order] == expected
