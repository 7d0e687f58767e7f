"""ModelSpec: the Model resource's spec (brief §2) as one frozen record every part shares.

The CLI builds it from YAML, the admin API carries it as `loadmaster.scheduler.v1.ModelSpec`,
and the scheduler stores it. Quantities are bytes here; `loadmaster.units` parses `200Mi` at
the YAML boundary. `version_fields` are the fields whose change makes a new model version
(brief §2: `storageUri` and `parameters`); any other change (replicas, memory, pin) updates the
current version in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loadmaster.generated.scheduler.v1 import admin_pb2
from loadmaster.resources.names import name_problem

Parameters = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """`parameters` is kept as sorted (key, value) pairs so equal specs compare and store equal;
    pass a dict or pairs, read it back with `parameter_map`."""

    name: str
    storage_uri: str
    memory_bytes: int = 0
    replicas: int = 1
    min_replicas: int = 1
    max_replicas: int = 0
    requirements: frozenset[str] = frozenset()
    server: str = ""
    parameters: Parameters = ()
    gpu_memory_bytes: int = 0
    instances: int = 0  # 0: one instance per parallel worker of the server

    def __post_init__(self) -> None:
        pairs: Mapping[str, str] | Parameters = self.parameters
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        object.__setattr__(self, "parameters", tuple(sorted((str(k), str(v)) for k, v in items)))
        object.__setattr__(self, "requirements", frozenset(self.requirements))

    @property
    def parameter_map(self) -> dict[str, str]:
        return dict(self.parameters)

    def version_fields(self) -> tuple[str, Parameters]:
        """What identifies a version: equal for two specs exactly when no new version is due."""
        return self.storage_uri, self.parameters


def check_spec(spec: ModelSpec) -> list[str]:
    """Every rule the spec breaks, each naming its field; empty when the spec is valid.

    The CLI runs this before sending and the scheduler again on receipt, so a client that skips
    the CLI gets the same messages.
    """
    problems: list[str] = []
    if (bad_name := name_problem("metadata.name", spec.name)) is not None:
        problems.append(bad_name)
    if not spec.storage_uri:
        problems.append("spec.storageUri: must not be empty")
    if spec.replicas < 0:
        problems.append(f"spec.replicas: must not be negative, got {spec.replicas}")
    if spec.min_replicas < 0:
        problems.append(f"spec.minReplicas: must not be negative, got {spec.min_replicas}")
    elif spec.min_replicas > spec.replicas:
        problems.append(
            f"spec.minReplicas: {spec.min_replicas} is above spec.replicas ({spec.replicas})"
        )
    if spec.max_replicas < 0:
        problems.append(f"spec.maxReplicas: must not be negative, got {spec.max_replicas}")
    elif spec.max_replicas and spec.max_replicas < spec.replicas:
        problems.append(
            f"spec.maxReplicas: {spec.max_replicas} is below spec.replicas ({spec.replicas}); "
            "use 0 for no ceiling"
        )
    if spec.memory_bytes < 0:
        problems.append("spec.memory: must not be negative")
    if spec.gpu_memory_bytes < 0:
        problems.append("spec.gpuMemory: must not be negative")
    if spec.instances < 0:
        problems.append(f"spec.instances: must not be negative, got {spec.instances}")
    for requirement in sorted(spec.requirements):
        if not requirement or requirement.strip() != requirement:
            problems.append(f"spec.requirements: {requirement!r} is not a capability name")
    return problems


def spec_to_proto(spec: ModelSpec) -> admin_pb2.ModelSpec:
    return admin_pb2.ModelSpec(
        name=spec.name,
        storage_uri=spec.storage_uri,
        requirements=sorted(spec.requirements),
        memory_bytes=spec.memory_bytes,
        replicas=spec.replicas,
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        server=spec.server,
        parameters=spec.parameter_map,
        gpu_memory_bytes=spec.gpu_memory_bytes,
        instances=spec.instances,
    )


def spec_from_proto(message: admin_pb2.ModelSpec) -> ModelSpec:
    return ModelSpec(
        name=message.name,
        storage_uri=message.storage_uri,
        memory_bytes=message.memory_bytes,
        replicas=message.replicas,
        min_replicas=message.min_replicas,
        max_replicas=message.max_replicas,
        requirements=frozenset(message.requirements),
        server=message.server,
        parameters=tuple(message.parameters.items()),
        gpu_memory_bytes=message.gpu_memory_bytes,
        instances=message.instances,
    )
