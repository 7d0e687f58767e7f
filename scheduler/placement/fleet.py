"""FleetView: the fleet indexed once per reconcile pass, with free capacity kept current.

Building this view is the only O(servers x replicas) step. Filters and scorers then read flat
numpy arrays instead of walking server records, which is what keeps one decision well under a
millisecond at 1,000 servers. `place` only reads the view; the reconcile loop calls `apply` with
the decisions it commits, so consecutive decisions in one pass see each other's capacity.
Servers are ordered by name, and every tie in placement goes to the earlier name, so a decision
does not depend on the order the store listed the servers in.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from scheduler.placement.arrays import BoolArray, IntArray, frozen
from scheduler.placement.records import (
    PlacedReplica,
    PlacementDecision,
    ReplicaPlacement,
    ServerSnapshot,
)

VersionKey = tuple[str, int]


class FleetView:
    """Indexed servers plus mutable free memory; plugins read it, only `apply` writes it."""

    def __init__(self, servers: Iterable[ServerSnapshot]) -> None:
        snapshots = sorted(servers, key=lambda s: s.name)
        self.names: tuple[str, ...] = tuple(s.name for s in snapshots)
        self.index: dict[str, int] = {name: i for i, name in enumerate(self.names)}
        if len(self.index) != len(self.names):
            raise ValueError("server names must be unique")
        self.pools: tuple[str, ...] = tuple(s.pool for s in snapshots)
        self.capabilities: tuple[frozenset[str], ...] = tuple(s.capabilities for s in snapshots)
        self.workers: IntArray = frozen(np.array([s.parallel_workers for s in snapshots], np.int64))
        self.usable: IntArray = frozen(
            np.array([s.usable_memory_bytes for s in snapshots], np.int64)
        )
        self.active: BoolArray = frozen(np.array([not s.draining for s in snapshots], np.bool_))
        self.gpu_ids: tuple[tuple[int, ...], ...] = tuple(
            tuple(g.index for g in s.gpus) for s in snapshots
        )
        self.gpu_free: list[list[int]] = [[g.memory_bytes for g in s.gpus] for s in snapshots]
        self.gpu_count: IntArray = frozen(np.array([len(s.gpus) for s in snapshots], np.int64))
        self.free: IntArray = self.usable.copy()
        self.gpu_best: IntArray = np.zeros(len(snapshots), np.int64)
        self.replica_count: IntArray = np.zeros(len(snapshots), np.int64)
        # (model, version) -> server -> replica; a second replica of one version on one server
        # (left by an older scheduler) goes to `extras` so placement can unload it.
        self.holders: dict[VersionKey, dict[int, PlacedReplica]] = {}
        self.extras: dict[VersionKey, list[ReplicaPlacement]] = {}
        self.model_servers: dict[str, dict[int, int]] = {}
        self.cached: dict[str, set[int]] = {}
        self.scale = float(max(1, int(self.usable.max(initial=0))))
        self._masks: dict[object, BoolArray] = {}
        for i, snapshot in enumerate(snapshots):
            for replica in snapshot.replicas:
                self._add(i, replica)
            for model in snapshot.cached_models:
                self.cached.setdefault(model, set()).add(i)
            self._refresh_gpu(i)

    def __len__(self) -> int:
        return len(self.names)

    # --- reads shared by plugins -----------------------------------------------------------

    def pool_mask(self, pool: str | None) -> BoolArray:
        """Servers in `pool` (all servers when None); cached, as pools do not change in a pass."""
        key = ("pool", pool)
        if key not in self._masks:
            self._masks[key] = frozen(
                np.array([pool is None or p == pool for p in self.pools], np.bool_)
            )
        return self._masks[key]

    def capable_mask(self, requirements: frozenset[str]) -> BoolArray:
        """Servers whose capabilities include all of `requirements`; cached per requirement set."""
        key = ("caps", requirements)
        if key not in self._masks:
            self._masks[key] = frozen(
                np.array([requirements <= c for c in self.capabilities], np.bool_)
            )
        return self._masks[key]

    def model_present(self, model: str) -> set[int]:
        """Servers holding any version of `model`, or its artifact in the agent's cache."""
        return self.model_servers.get(model, {}).keys() | self.cached.get(model, set())

    def free_bytes(self, server: str) -> int:
        return int(self.free[self.index[server]])

    def gpu_free_bytes(self, server: str, gpu: int) -> int:
        i = self.index[server]
        return self.gpu_free[i][self.gpu_ids[i].index(gpu)]

    def servers_in_use(self) -> int:
        """Servers holding at least one replica: the number a packing policy tries to keep low."""
        return int(np.count_nonzero(self.replica_count))

    # --- writes ------------------------------------------------------------------------------

    def apply(self, decision: PlacementDecision) -> None:
        """Account a committed decision: additions take capacity, removals give it back."""
        for placement in decision.add:
            i = self.index[placement.server]
            self._add(i, placement.replica)
            self._refresh_gpu(i)
        for placement in decision.remove:
            i = self.index[placement.server]
            self._remove(i, placement)
            self._refresh_gpu(i)

    def _add(self, i: int, replica: PlacedReplica) -> None:
        key = (replica.model.name, replica.model.version)
        on_server = self.holders.setdefault(key, {})
        if i in on_server:
            self.extras.setdefault(key, []).append(ReplicaPlacement(self.names[i], replica))
        else:
            on_server[i] = replica
        self._charge(i, replica, 1)

    def _remove(self, i: int, placement: ReplicaPlacement) -> None:
        replica = placement.replica
        key = (replica.model.name, replica.model.version)
        extras = self.extras.get(key, [])
        if placement in extras:
            extras.remove(placement)
        elif self.holders.get(key, {}).get(i) == replica:
            del self.holders[key][i]
        else:
            raise KeyError(f"{replica.model} is not on server {placement.server}")
        self._charge(i, replica, -1)

    def _charge(self, i: int, replica: PlacedReplica, sign: int) -> None:
        self.free[i] -= sign * replica.memory_bytes
        self.replica_count[i] += sign
        if replica.gpu is not None:
            self.gpu_free[i][self.gpu_ids[i].index(replica.gpu)] -= sign * replica.gpu_memory_bytes
        counts = self.model_servers.setdefault(replica.model.name, {})
        counts[i] = counts.get(i, 0) + sign
        if counts[i] == 0:
            del counts[i]

    def _refresh_gpu(self, i: int) -> None:
        self.gpu_best[i] = max(self.gpu_free[i], default=0)
