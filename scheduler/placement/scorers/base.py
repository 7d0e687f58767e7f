"""The scorer plugin contract: rank the servers that passed every filter.

A scorer returns one number per candidate in [0, 1], higher better. Keeping every scorer on the
same scale is what makes a policy's weights mean something when scores are added up.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from scheduler.placement.arrays import FloatArray, IntArray
from scheduler.placement.context import DemandContext


class Scorer(ABC):
    """One preference. Subclasses are stateless; the context carries the demand."""

    name: ClassVar[str]

    @abstractmethod
    def score(self, ctx: DemandContext, candidates: IntArray) -> FloatArray:
        """Scores in [0, 1] for `candidates` (server indices), aligned with them."""
