"""Scorer plugins: each ranks filtered servers in [0, 1]; a policy weights and adds them."""

from __future__ import annotations

from scheduler.placement.scorers.affinity import ModelAffinityScorer
from scheduler.placement.scorers.base import Scorer
from scheduler.placement.scorers.gpu_reserve import GpuReserveScorer
from scheduler.placement.scorers.packing import (
    BestFitScorer,
    Packing,
    SpreadScorer,
    choose_device,
    removal_order,
)

__all__ = [
    "BestFitScorer",
    "GpuReserveScorer",
    "ModelAffinityScorer",
    "Packing",
    "Scorer",
    "SpreadScorer",
    "choose_device",
    "removal_order",
]
