"""Prefer where the model already is: another version loaded, or its artifact cached.

Loading next to a sibling version reuses a warm artifact cache and keeps a model's replicas on
few servers, which a rolling update then replaces in place.
"""

from __future__ import annotations

import numpy as np

from scheduler.placement.arrays import FloatArray, IntArray
from scheduler.placement.context import DemandContext
from scheduler.placement.scorers.base import Scorer


class ModelAffinityScorer(Scorer):
    name = "model-affinity"

    def score(self, ctx: DemandContext, candidates: IntArray) -> FloatArray:
        present = ctx.fleet.model_present(ctx.demand.name)
        if not present:
            return np.zeros(candidates.size, np.float64)
        return np.isin(candidates, np.fromiter(present, np.int64, len(present))).astype(np.float64)
