"""Fakes and short helpers for driving the scheduler core by hand: no network, no sleeps.

`make_core` builds a `SchedulerCore` over a `MemoryStore`, a `FakeSink` that records every
order, and a `FakeClock` that moves only when a test says so. The helpers play the agents'
part: `register` connects and registers a server, `loaded` answers every pending LoadOrder with
Loading then Available, `unloaded` answers every pending UnloadOrder with Unloading then
Unloaded. Orders are compared in a short form (`brief`) so an assertion reads like the story.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from loadmaster.replica_state import ReplicaState
from loadmaster.resources import ExperimentCandidate, ExperimentMirror, ExperimentSpec, ModelSpec
from loadmaster.resources.pipeline_spec import PipelineOutput, PipelineSpec, PipelineStep
from scheduler import agent_events
from scheduler.cluster import ClusterState
from scheduler.config import SchedulerConfig
from scheduler.core import SchedulerCore
from scheduler.metrics import SchedulerMetrics
from scheduler.model_admin import Applied, apply_spec
from scheduler.model_signatures import ModelSignature, TensorSignature
from scheduler.model_status import ModelStatus
from scheduler.orders import (
    DrainAck,
    HeldReplica,
    LoadOrder,
    Order,
    Registration,
    ReplicaEvent,
    UnloadOrder,
)
from scheduler.placement import GpuDevice
from scheduler.reconcile import reconcile_pass
from scheduler.store import MemoryStore
from scheduler.views import model_status

Mi = 2**20
Gi = 2**30
S = ReplicaState

Sent = tuple[str, Order]
Brief = tuple[str, str, str]


class FakeClock:
    """A clock that moves only when told; call it like `time.monotonic`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSink:
    """An `OrderSink` that records every order sent to a connected server.

    `sent` is the whole log; `take` returns what was sent since its last call. `answered` holds
    the order ids the agent helpers have replied to, so `loaded` never answers an order twice.
    """

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.dropped: list[Sent] = []
        self.connections: set[str] = set()
        self.disconnects: list[str] = []
        self.answered: set[int] = set()
        self._taken = 0

    def connected(self, server: str) -> bool:
        return server in self.connections

    def send(self, server: str, order: Order) -> bool:
        if server not in self.connections:
            self.dropped.append((server, order))
            return False
        self.sent.append((server, order))
        return True

    def disconnect(self, server: str) -> None:
        self.disconnects.append(server)
        self.connections.discard(server)

    def take(self) -> list[Sent]:
        new = self.sent[self._taken :]
        self._taken = len(self.sent)
        return new

    def to(self, server: str) -> list[Order]:
        return [order for name, order in self.sent if name == server]

    def pending_loads(self) -> list[tuple[str, LoadOrder]]:
        return [
            (server, order)
            for server, order in self.sent
            if isinstance(order, LoadOrder) and order.order_id not in self.answered
        ]

    def pending_unloads(self) -> list[tuple[str, UnloadOrder]]:
        return [
            (server, order)
            for server, order in self.sent
            if isinstance(order, UnloadOrder) and order.order_id not in self.answered
        ]


@dataclass
class Rig:
    """One scheduler core and everything a test reaches behind it."""

    core: SchedulerCore
    sink: FakeSink
    clock: FakeClock
    store: MemoryStore
    registry: CollectorRegistry

    @property
    def state(self) -> ClusterState:
        return self.core.state


def make_core(
    *,
    store: MemoryStore | None = None,
    state: ClusterState | None = None,
    config: SchedulerConfig | None = None,
    clock: FakeClock | None = None,
) -> Rig:
    """A core on a fresh MemoryStore (or on `state`, e.g. one `ClusterState.load` read back)."""
    store = store if store is not None else MemoryStore()
    if state is None:
        state = ClusterState(store)
    clock = clock if clock is not None else FakeClock()
    sink = FakeSink()
    registry = CollectorRegistry()
    core = SchedulerCore(
        state, sink, config or SchedulerConfig(), SchedulerMetrics(registry), clock=clock
    )
    return Rig(core, sink, clock, store, registry)


def spec(
    name: str,
    memory: int,
    replicas: int = 1,
    min_replicas: int = 1,
    *,
    uri: str | None = None,
    requirements: Iterable[str] = (),
    server: str = "",
    gpu_memory: int = 0,
    parameters: Sequence[tuple[str, str]] = (),
    instances: int = 0,
) -> ModelSpec:
    return ModelSpec(
        name=name,
        storage_uri=uri if uri is not None else f"file:///models/{name}",
        memory_bytes=memory,
        replicas=replicas,
        min_replicas=min_replicas,
        requirements=frozenset(requirements),
        server=server,
        parameters=tuple(parameters),
        gpu_memory_bytes=gpu_memory,
        instances=instances,
    )


def experiment(
    name: str,
    *candidates: tuple[str, int],
    default: str = "",
    mirror: tuple[str, int] | None = None,
) -> ExperimentSpec:
    """`experiment("ab", ("a", 50), ("b", 50), mirror=("m", 20))`."""
    return ExperimentSpec(
        name=name,
        candidates=tuple(ExperimentCandidate(m, w) for m, w in candidates),
        default_model=default,
        mirror=ExperimentMirror(*mirror) if mirror is not None else None,
    )


def pipeline(name: str, *steps: PipelineStep, output: Sequence[str] = ()) -> PipelineSpec:
    """`pipeline("chain", step("a"), step("b", "m", "a.outputs.y"), output=["b"])`."""
    return PipelineSpec(name=name, steps=steps, output=PipelineOutput(steps=tuple(output)))


def step(
    name: str, model: str = "", *inputs: str, tensor_map: Mapping[str, str] | None = None
) -> PipelineStep:
    """A step calling `model` (default: the step's name) with `inputs` (default: the
    pipeline's)."""
    return PipelineStep(
        name=name, model=model or name, inputs=inputs, tensor_map=tuple((tensor_map or {}).items())
    )


def declares(inputs: Sequence[str], outputs: Sequence[str]) -> ModelSignature:
    """A model signature with these tensor names, each FP32 of any length."""
    return ModelSignature(
        tuple(TensorSignature(n, "FP32", (-1,)) for n in inputs),
        tuple(TensorSignature(n, "FP32", (-1,)) for n in outputs),
    )


async def register(
    rig: Rig,
    name: str,
    memory: int,
    *,
    pool: str = "",
    capabilities: Iterable[str] = (),
    gpus: Sequence[int] = (),
    workers: int = 1,
    overcommit: int = 0,
    held: Sequence[HeldReplica] = (),
) -> None:
    """Connect `name` and register it; `gpus` are device memory sizes, indexed from 0."""
    rig.sink.connections.add(name)
    await agent_events.on_register(
        rig.core,
        Registration(
            server=name,
            memory_bytes=memory,
            http_endpoint=f"http://{name}:9000",
            grpc_endpoint=f"{name}:9500",
            pool=pool,
            overcommit_percent=overcommit,
            parallel_workers=workers,
            capabilities=frozenset(capabilities),
            gpus=tuple(GpuDevice(i, size) for i, size in enumerate(gpus)),
            held=tuple(held),
        ),
    )


async def apply(rig: Rig, model: ModelSpec) -> Applied:
    return await apply_spec(rig.core, model)


async def reconcile(rig: Rig) -> list[Brief]:
    """One reconcile pass; the orders it sent, in the short form."""
    rig.sink.take()
    await reconcile_pass(rig.core)
    return brief(rig.sink.take())


async def report(
    rig: Rig,
    server: str,
    model: str,
    version: int,
    *states: ReplicaState,
    reason: str = "",
    signature: ModelSignature | None = None,
) -> None:
    """The agent on `server` reports each of `states` for one replica, in turn; an Available
    report declares `signature`."""
    for state in states:
        declared = signature if state is S.AVAILABLE else None
        event = ReplicaEvent(model, version, state, reason, declared)
        await agent_events.on_event(rig.core, server, event)


async def loaded(rig: Rig, signatures: Mapping[str, ModelSignature] | None = None) -> None:
    """Every LoadOrder not yet answered: Loading, then Available (declaring the model's
    signature from `signatures`, if it has one there)."""
    for server, order in rig.sink.pending_loads():
        rig.sink.answered.add(order.order_id)
        signature = (signatures or {}).get(order.model)
        await report(
            rig, server, order.model, order.version, S.LOADING, S.AVAILABLE, signature=signature
        )


async def unloaded(rig: Rig) -> None:
    """Every UnloadOrder not yet answered: Unloading, then Unloaded."""
    for server, order in rig.sink.pending_unloads():
        rig.sink.answered.add(order.order_id)
        await report(rig, server, order.model, order.version, S.UNLOADING, S.UNLOADED)


async def beat(rig: Rig, *servers: str) -> None:
    for server in servers:
        await agent_events.on_heartbeat(rig.core, server)


def status(rig: Rig, name: str) -> ModelStatus:
    return model_status(rig.core, rig.state.models[name])


def replica_states(rig: Rig, model: str) -> list[tuple[str, int, ReplicaState]]:
    """(server, version, state) of each replica record of `model`, sorted."""
    return sorted((r.server, r.version, r.state) for r in rig.state.replicas_of(model))


def brief(sent: Iterable[Sent]) -> list[Brief]:
    """Orders as (kind, server, what): ("load", "a", "m:v1"), ("drain", "a", "m1,m2")."""
    out: list[Brief] = []
    for server, order in sent:
        if isinstance(order, LoadOrder):
            out.append(("load", server, f"{order.model}:v{order.version}"))
        elif isinstance(order, UnloadOrder):
            out.append(("unload", server, f"{order.model}:v{order.version}"))
        else:
            assert isinstance(order, DrainAck)
            out.append(("drain", server, ",".join(order.pending_models)))
    return out
