from __future__ import annotations

import pytest

from scheduler.placement import DEFAULT_POLICY, PEER_SPREAD_POLICY, Packing, PlacementPolicy


@pytest.mark.parametrize(
    ("policy", "names"),
    [
        (DEFAULT_POLICY, ["gpu-reserve", "model-affinity", "best-fit"]),
        (PEER_SPREAD_POLICY, ["spread"]),
        (
            PlacementPolicy(packing=Packing.SPREAD, gpu_reserve_weight=0),
            ["model-affinity", "spread"],
        ),
    ],
)
def test_scorers_leave_out_zero_weights(policy: PlacementPolicy, names: list[str]) -> None:
    assert [scorer.name for scorer, _ in policy.scorers()] == names


def test_default_weights_rank_lexicographically() -> None:
    # Scores lie in [0, 1]: each weight must beat the sum of the weights below it.
    weights = [weight for _, weight in DEFAULT_POLICY.scorers()]
    assert all(w > sum(weights[k + 1 :]) for k, w in enumerate(weights))


def test_negative_weights_are_rejected() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        PlacementPolicy(affinity_weight=-1)
