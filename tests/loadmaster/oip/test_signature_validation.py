from __future__ import annotations

import numpy as np
import pytest

from loadmaster.oip.datatypes import DataType
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.types import RequestedOutput, Tensor, TensorSpec
from loadmaster.oip.validation import select_outputs, validate_inputs

SPECS = (TensorSpec("input", DataType.FP32, (-1, 4)),)


def tensor(name: str, datatype: DataType, shape: tuple[int, ...]) -> Tensor:
    return Tensor(name, datatype, shape, np.zeros(shape, dtype=np.float32))


def test_a_matching_request_passes() -> None:
    validate_inputs("iris", [tensor("input", DataType.FP32, (3, 4))], SPECS)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([tensor("x", DataType.FP32, (1, 4))], "has no input 'x'"),
        ([tensor("input", DataType.FP64, (1, 4))], "is FP32, got FP64"),
        ([tensor("input", DataType.FP32, (1, 5))], r"has shape \[-1, 4\]"),
        ([tensor("input", DataType.FP32, (4,))], r"got \[4\]"),
        ([tensor("input", DataType.FP32, (1, 4))] * 2, "appears twice"),
    ],
)
def test_mismatches_are_named(inputs: list[Tensor], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        validate_inputs("iris", inputs, SPECS)


def test_select_outputs_keeps_the_requested_order_and_refuses_unknown_names() -> None:
    outs = [tensor("a", DataType.FP32, (1,)), tensor("b", DataType.FP32, (1,))]
    picked = select_outputs("m", outs, [RequestedOutput("b"), RequestedOutput("a")])
    assert [t.name for t in picked] == ["b", "a"]
    assert [t.name for t in select_outputs("m", outs, [])] == ["a", "b"]
    with pytest.raises(BadRequest, match=r"no output\(s\) \['c'\]"):
        select_outputs("m", outs, [RequestedOutput("c")])
