"""Filter plugins, in the order placement runs them and reasons list them.

Cheap, broad rules come first so a reason reads from the general ("no server has capability
gpu") to the specific ("largest free is 1.5Gi on server b").
"""

from __future__ import annotations

from scheduler.placement.filters.anti_affinity import AntiAffinityFilter
from scheduler.placement.filters.base import PASS, Filter, Pass, Reject, Verdict
from scheduler.placement.filters.capability import CapabilityFilter
from scheduler.placement.filters.draining import DrainingFilter
from scheduler.placement.filters.gpu import GpuMemoryFilter
from scheduler.placement.filters.memory import MemoryFilter
from scheduler.placement.filters.pin import PinFilter

DEFAULT_FILTERS: tuple[Filter, ...] = (
    PinFilter(),
    CapabilityFilter(),
    DrainingFilter(),
    AntiAffinityFilter(),
    MemoryFilter(),
    GpuMemoryFilter(),
)

__all__ = [
    "DEFAULT_FILTERS",
    "PASS",
    "AntiAffinityFilter",
    "CapabilityFilter",
    "DrainingFilter",
    "Filter",
    "GpuMemoryFilter",
    "MemoryFilter",
    "Pass",
    "PinFilter",
    "Reject",
    "Verdict",
]
