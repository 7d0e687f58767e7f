"""PlacementPolicy: which packing to use and how much each preference weighs.

The policy is data (it lives in configuration and in logs); `scorers()` turns it into plugins.
Every scorer gives [0, 1], so the default weights 4 / 2 / 1 rank lexicographically: keep GPU
servers for GPU models first, then prefer servers that already hold the model, and let packing
decide among equals. Equal weights make the preferences trade off against each other instead;
a zero weight turns a scorer off.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.placement.scorers import (
    BestFitScorer,
    GpuReserveScorer,
    ModelAffinityScorer,
    Packing,
    Scorer,
    SpreadScorer,
)

_PACKING: dict[Packing, Scorer] = {
    Packing.BEST_FIT: BestFitScorer(),
    Packing.SPREAD: SpreadScorer(),
}
_AFFINITY = ModelAffinityScorer()
_GPU_RESERVE = GpuReserveScorer()


@dataclass(frozen=True, slots=True)
class PlacementPolicy:
    packing: Packing = Packing.BEST_FIT
    packing_weight: float = 1.0
    affinity_weight: float = 2.0
    gpu_reserve_weight: float = 4.0

    def __post_init__(self) -> None:
        if min(self.packing_weight, self.affinity_weight, self.gpu_reserve_weight) < 0:
            raise ValueError("scorer weights must not be negative")

    def scorers(self) -> tuple[tuple[Scorer, float], ...]:
        """Weighted scorers, zero weights left out so they cost nothing."""
        weighted = (
            (_GPU_RESERVE, self.gpu_reserve_weight),
            (_AFFINITY, self.affinity_weight),
            (_PACKING[self.packing], self.packing_weight),
        )
        return tuple((scorer, weight) for scorer, weight in weighted if weight > 0)


DEFAULT_POLICY = PlacementPolicy()

# The comparison placer: filters, then most free memory first, with no other preference; what
# the best-known peer scheduler does.
PEER_SPREAD_POLICY = PlacementPolicy(
    packing=Packing.SPREAD, affinity_weight=0.0, gpu_reserve_weight=0.0
)
