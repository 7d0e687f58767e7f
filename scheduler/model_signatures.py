"""The declared inputs and outputs of loaded model versions, as the agents report them.

Why the scheduler keeps them: a pipeline step names tensors (`a.outputs.y`) that only the model
can confirm, and the model says what it takes and gives only once it is loaded. Agents send the
signature with every Available report and with each Available replica they hold when they
register, so this is observed state: in memory only, and a restarted scheduler learns it again
from the agents' re-registration.

Why it cannot go stale: a signature is read only for a version that has an Available replica,
and every report that makes a replica Available sets (or, when the agent sent none, clears) its
version's entry. A version whose record is gone is dropped on the next report.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TensorSignature:
    """One declared tensor; -1 in `shape` marks a dimension of any size."""

    name: str
    datatype: str
    shape: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelSignature:
    inputs: tuple[TensorSignature, ...] = ()
    outputs: tuple[TensorSignature, ...] = ()

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)


VersionKey = tuple[str, int]  # (model, version)


class Signatures:
    """(model, version) -> the signature its replicas declared."""

    def __init__(self) -> None:
        self._by_version: dict[VersionKey, ModelSignature] = {}

    def observe(
        self,
        model: str,
        version: int,
        signature: ModelSignature | None,
        live: Container[VersionKey],
    ) -> None:
        """Record what an Available replica declared; None (an agent that sent nothing) makes
        the version's signature unknown. Entries of versions not in `live` are dropped."""
        if signature is None:
            self._by_version.pop((model, version), None)
        else:
            self._by_version[(model, version)] = signature
        for key in [k for k in self._by_version if k not in live]:
            del self._by_version[key]

    def get(self, model: str, version: int) -> ModelSignature | None:
        return self._by_version.get((model, version))

    def __len__(self) -> int:
        return len(self._by_version)
