"""Keep GPU servers for models that need a GPU.

Subset matching lets a CPU model onto a GPU server (it has every capability a CPU server has),
and best-fit would happily fill one: then GPU models find their devices free but no memory left
next to them. In bench/placement.py that failed 249 of 419 GPU models. This scorer ranks
servers without GPUs first for models that need none; it is flat for models that need a GPU.
"""

from __future__ import annotations

import numpy as np

from scheduler.placement.arrays import FloatArray, IntArray
from scheduler.placement.context import DemandContext
from scheduler.placement.scorers.base import Scorer


class GpuReserveScorer(Scorer):
    name = "gpu-reserve"

    def score(self, ctx: DemandContext, candidates: IntArray) -> FloatArray:
        if ctx.needs_gpu:
            return np.ones(candidates.size, np.float64)
        return np.where(ctx.fleet.gpu_count[candidates] == 0, 1.0, 0.0)
