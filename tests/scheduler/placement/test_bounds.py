from __future__ import annotations

import pytest

from scheduler.placement import lower_bound_servers


@pytest.mark.parametrize(
    ("total", "capacities", "expected"),
    [
        (0, [8], 0),
        (10, [4, 4, 4, 4], 3),  # ceil(10 / 4) with equal servers
        (8, [4, 4], 2),
        (9, [8, 1, 1], 2),
        (60, [8, 16, 64], 1),  # largest first
        (70, [8, 16, 64], 2),
        (88, [8, 16, 64], 3),
    ],
)
def test_lower_bound(total: int, capacities: list[int], expected: int) -> None:
    assert lower_bound_servers(total, capacities) == expected


def test_lower_bound_when_the_fleet_is_too_small() -> None:
    with pytest.raises(ValueError, match="exceeds the fleet's capacity 12"):
        lower_bound_servers(13, [4, 8])
