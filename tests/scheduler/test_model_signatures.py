"""Model signatures from the agents: read off the wire, kept per version, learnt again after a
scheduler restart from the agents' re-registration, and used to judge pipelines."""

from __future__ import annotations

from loadmaster.generated.agentapi.v1 import agent_pb2 as pb
from loadmaster.replica_state import ReplicaState
from scheduler.cluster import ClusterState
from scheduler.links import registration, replica_event
from scheduler.model_admin import request_unload
from scheduler.model_signatures import ModelSignature, Signatures, TensorSignature
from scheduler.orders import HeldReplica, ReplicaEvent
from scheduler.pipeline_admin import load_pipeline
from scheduler.pipeline_views import pipeline_routes
from tests.scheduler.fakes import (
    FakeClock,
    Gi,
    Rig,
    apply,
    declares,
    loaded,
    make_core,
    pipeline,
    reconcile,
    register,
    report,
    spec,
    step,
    unloaded,
)

S = ReplicaState
IRIS = ModelSignature(
    inputs=(TensorSignature("x", "FP32", (-1, 4)),),
    outputs=(TensorSignature("y", "INT64", (-1,)), TensorSignature("p", "FP32", (-1, 3))),
)
X = [pb.TensorSignature(name="x", datatype="FP32", shape=[-1, 4])]
Y_P = [
    pb.TensorSignature(name="y", datatype="INT64", shape=[-1]),
    pb.TensorSignature(name="p", datatype="FP32", shape=[-1, 3]),
]


# ---- the wire --------------------------------------------------------------------------------


def test_an_available_event_carries_the_signature() -> None:
    message = pb.ReplicaEvent(model="iris", version=2, state="Available", inputs=X, outputs=Y_P)
    assert replica_event(message) == ReplicaEvent("iris", 2, S.AVAILABLE, "", IRIS)
    assert (IRIS.input_names, IRIS.output_names) == (("x",), ("y", "p"))


def test_an_event_that_declares_nothing_has_no_signature() -> None:
    assert (
        replica_event(pb.ReplicaEvent(model="iris", version=2, state="Available")).signature is None
    )


def test_held_replicas_carry_their_signatures() -> None:
    message = pb.Register(
        server="a",
        held=[
            pb.HeldReplica(model="iris", version=2, state="Available", inputs=X, outputs=Y_P),
            pb.HeldReplica(model="bert", version=1, state="Loading"),
        ],
    )
    assert registration(message).held == (
        HeldReplica("iris", 2, S.AVAILABLE, IRIS),
        HeldReplica("bert", 1, S.LOADING, None),
    )


# ---- kept per version ------------------------------------------------------------------------


def test_signatures_by_version_and_forgotten_with_their_version() -> None:
    signatures = Signatures()
    live = {("iris", 1), ("iris", 2)}
    signatures.observe("iris", 1, IRIS, live)
    signatures.observe("iris", 2, declares(["a"], ["b"]), live)
    assert (signatures.get("iris", 1), signatures.get("iris", 3)) == (IRIS, None)
    signatures.observe("iris", 2, None, live)  # Available, but the agent declared nothing
    assert signatures.get("iris", 2) is None
    signatures.observe("iris", 2, IRIS, {("iris", 2)})  # version 1 is gone
    assert (signatures.get("iris", 1), signatures.get("iris", 2), len(signatures)) == (
        None,
        IRIS,
        1,
    )


async def serving() -> Rig:
    rig = make_core()
    await register(rig, "s", 4 * Gi)
    await apply(rig, spec("iris", Gi))
    await reconcile(rig)
    return rig


async def test_an_available_report_records_the_signature() -> None:
    rig = await serving()
    await report(rig, "s", "iris", 1, S.LOADING)
    assert rig.core.signatures.get("iris", 1) is None
    await loaded(rig, {"iris": IRIS})
    assert rig.core.signatures.get("iris", 1) == IRIS


async def test_an_unloaded_model_leaves_its_signature_behind_on_the_next_report() -> None:
    rig = await serving()
    await loaded(rig, {"iris": IRIS})
    await apply(rig, spec("other", Gi))
    await request_unload(rig.core, "iris")
    await reconcile(rig)
    await unloaded(rig)
    await reconcile(rig)
    assert "iris" not in rig.state.models
    await loaded(rig, {"other": IRIS})
    assert rig.core.signatures.get("iris", 1) is None
    assert rig.core.signatures.get("other", 1) == IRIS


async def test_a_restarted_scheduler_learns_signatures_from_re_registration() -> None:
    rig = await serving()
    wrong = declares(["x"], ["w"])
    await loaded(rig, {"iris": wrong})
    await load_pipeline(
        rig.core, pipeline("p", step("first", "iris"), step("second", "iris", "first.outputs.y"))
    )
    assert pipeline_routes(rig.core)[0].state == "PipelineFailed"

    state = await ClusterState.load(rig.store)
    assert set(state.pipelines) == {"p"}  # desired state is stored
    new = make_core(store=rig.store, state=state, clock=FakeClock(5000.0))
    assert len(new.core.signatures) == 0  # observed state is not
    # Before s re-registers, the stored records say iris serves and nothing is known of its
    # tensors: not checked, like any model that declares nothing.
    assert pipeline_routes(new.core)[0].state == "PipelineReady"
    await register(new, "s", 4 * Gi, held=(HeldReplica("iris", 1, S.AVAILABLE, wrong),))
    assert new.core.signatures.get("iris", 1) == wrong
    [route] = pipeline_routes(new.core)
    assert (route.state, route.reason) == (
        "PipelineFailed",
        "spec.steps[1].inputs[0]: 'first.outputs.y': model 'iris' declares no output 'y' "
        "(it has: w); spec.steps[1]: model 'iris' takes inputs (x) but would receive 'y'; map "
        "it with tensorMap {first.outputs.y: x}",
    )
