"""Selecting, renaming and encoding tensors between steps, and decoding what arrives."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.pipeline.graph import Target
from gateway.pipeline.join import Arrival
from gateway.pipeline.step_io import (
    StepIOError,
    pipeline_input,
    pipeline_response_body,
    select_tensors,
    step_output,
    step_request_body,
)
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.rest_codec import (
    decode_infer_request,
    decode_infer_response,
    encode_infer_request,
)
from loadmaster.oip.types import InferRequest, Tensor
from loadmaster.resources.pipeline_refs import PIPELINE, parse_ref
from tests.gateway.pipeline.dataflow_rig import fp32, values


def target(*inputs: str, tensor_map: dict[str, str] | None = None, name: str = "c") -> Target:
    return Target(
        name=name,
        model="m",
        inputs=tuple(parse_ref(r) for r in inputs),
        tensor_map=tuple(sorted((tensor_map or {}).items())),
    )


A = Arrival("a", (fp32("y", 1), fp32("w", 2)))
B = Arrival("b", (fp32("y", 3),))
REQUEST = Arrival(PIPELINE, (fp32("x", 4),))


def names(tensors: tuple[Tensor, ...]) -> list[str]:
    return [t.name for t in tensors]


def test_tensors_come_in_reference_order_renamed_by_the_tensor_map() -> None:
    chosen = select_tensors(
        target("b.outputs.y", "pipeline.inputs.x", "a.outputs.w", tensor_map={"b.outputs.y": "q"}),
        [A, B, REQUEST],
    )
    assert names(chosen) == ["q", "x", "w"]
    assert values(chosen[0]) == [3.0]


def test_a_whole_source_reference_maps_each_tensor_by_its_own_reference() -> None:
    chosen = select_tensors(target("a", tensor_map={"a.outputs.y": "a_y"}), [A])
    assert names(chosen) == ["a_y", "w"]


def test_references_to_sources_that_did_not_take_part_are_passed_over() -> None:
    assert names(select_tensors(target("a.outputs.y", "b.outputs.y"), [B])) == ["y"]


def test_a_missing_tensor_names_the_reference_and_what_arrived_instead() -> None:
    with pytest.raises(StepIOError) as caught:
        select_tensors(target("a.outputs.z"), [A])
    assert (caught.value.status, caught.value.message) == (
        400,
        "step 'c': input 'a.outputs.z' did not arrive: step 'a' answered with y, w",
    )
    with pytest.raises(StepIOError) as caught:
        select_tensors(target("pipeline.inputs.z", name=""), [REQUEST])
    assert caught.value.message == (
        "output: input 'pipeline.inputs.z' did not arrive: the pipeline request carried x"
    )


def test_two_tensors_with_one_name_are_refused_suggesting_a_tensor_map() -> None:
    with pytest.raises(StepIOError) as caught:
        select_tensors(target("a.outputs.y", "b.outputs.y"), [A, B])
    assert caught.value.status == 400
    assert caught.value.message == (
        "step 'c': two inputs are named 'y': 'a.outputs.y' and 'b.outputs.y'; "
        "rename one with a tensorMap"
    )


def test_a_step_request_is_binary_and_asks_for_binary_outputs() -> None:
    words = np.array([b"hi", b"\xff"], dtype=object)
    tensors = (fp32("x", 1.5, 2.5), Tensor("s", DataType.BYTES, (2,), words))
    body, length = step_request_body("m", "req-1", tensors)
    header = body[:length]
    assert b'"data"' not in header and b"binary_data_size" in header
    request = decode_infer_request(body, length, "m")
    assert (request.id, request.parameters) == ("req-1", {"binary_data_output": True})
    assert values(request.inputs[0]) == [1.5, 2.5]
    assert list(request.inputs[1].data) == [b"hi", b"\xff"]


def test_the_pipeline_answer_names_the_pipeline_and_the_callers_id() -> None:
    body, length = pipeline_response_body("p", "client-7", (fp32("y", 9),))
    response = decode_infer_response(body, length)
    assert (response.model, response.id, names(response.outputs)) == ("p", "client-7", ["y"])
    assert b'"data"' not in body[:length]
    empty, empty_length = pipeline_response_body("p", "client-7", ())
    assert empty_length == len(empty)  # all JSON, still a valid header length


def test_arrivals_decode_and_bad_bodies_fail_with_the_right_status() -> None:
    body, length = encode_infer_request(InferRequest("p", (fp32("x", 1),)), binary=True)
    arrival = pipeline_input(body, length, "p")
    assert (arrival.source, names(arrival.tensors or ())) == (PIPELINE, ["x"])
    with pytest.raises(StepIOError) as caught:
        pipeline_input(b"not json", None, "p")
    assert caught.value.status == 400
    answer, answer_length = pipeline_response_body("m", "r", (fp32("y", 1),))
    assert names(step_output(answer, answer_length, "a").tensors or ()) == ["y"]
    with pytest.raises(StepIOError) as caught:
        step_output(b"{}", None, "a")
    assert caught.value.status == 500
    assert caught.value.message.startswith("step 'a' answered with a body that is not")
