"""Experiments as the gateway routes them: pick a candidate by weight, keep a client on it,
and decide whether a request is also copied to the mirror.

An experiment is addressed as `<name>.experiment`, or by the model name it takes over
(`spec.default`). A client that echoes the `x-loadmaster-route` header it got back stays on
that candidate while the candidate can serve, which is what a session needs to see one model's
answers throughout. Only candidates with a ready replica are chosen from, by their weights
renormalised: a candidate that is still loading gets no traffic rather than 503s, and the
observed split (`loadmaster experiment status`) shows the difference.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from loadmaster.generated.scheduler.v1 import admin_pb2 as pb

SUFFIX = ".experiment"
ROUTE_HEADER = "x-loadmaster-route"


@dataclass(frozen=True, slots=True)
class Candidate:
    model: str
    weight: int


@dataclass(frozen=True, slots=True)
class Mirror:
    model: str
    percent: int


@dataclass(frozen=True, slots=True)
class Experiment:
    """One experiment from the route table; `uid` changes whenever it is (re)started."""

    name: str
    uid: int
    default_model: str
    candidates: tuple[Candidate, ...]
    mirror: Mirror | None = None

    @classmethod
    def from_proto(cls, msg: pb.ExperimentRoute) -> Experiment:
        spec = msg.spec
        mirror = (
            Mirror(spec.mirror.model, spec.mirror.percent)
            if spec.HasField("mirror") and spec.mirror.model
            else None
        )
        return cls(
            name=spec.name,
            uid=msg.uid,
            default_model=spec.default_model,
            candidates=tuple(Candidate(c.model, c.weight) for c in spec.candidates),
            mirror=mirror,
        )

    def choose(
        self, ready: Callable[[str], bool], sticky: str | None, rng: random.Random
    ) -> Candidate | None:
        """The candidate for one request: the sticky one while it can serve, else one of the
        ready candidates drawn by weight; None when no candidate can serve."""
        usable = [c for c in self.candidates if c.weight > 0 and ready(c.model)]
        if not usable:
            return None
        if sticky:
            for candidate in usable:
                if candidate.model == sticky:
                    return candidate
        total = sum(c.weight for c in usable)
        point = rng.random() * total
        for candidate in usable:
            point -= candidate.weight
            if point < 0:
                return candidate
        return usable[-1]

    def mirrors(self, rng: random.Random) -> bool:
        """Whether this request is also copied to the mirror."""
        return self.mirror is not None and rng.random() * 100 < self.mirror.percent


@dataclass(frozen=True, slots=True)
class Hit:
    """What an experiment decided for one request, for counting and the route header."""

    experiment: str
    uid: int
    candidate: str


def experiment_named(
    name: str, by_name: Mapping[str, Experiment], by_default: Mapping[str, Experiment]
) -> tuple[Experiment | None, bool]:
    """The experiment a request name addresses, and whether it used the `.experiment` form
    (which must then exist: the caller answers 404 for it rather than look for a model)."""
    if name.endswith(SUFFIX):
        return by_name.get(name[: -len(SUFFIX)]), True
    return by_default.get(name), False
