"""Request inputs are checked against the signature before model code runs (BadRequest: 400)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.runtimes.validate import check_inputs, flag, merged_parameters
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.errors import BadRequest
from loadmaster.oip.types import Tensor
from tests.agent.runtimes.tiny import spec, tensor

SPECS = (spec("x", DataType.FP32, -1, 4), spec("mask", DataType.INT64, -1))
GOOD_X = tensor("x", [[1, 2, 3, 4]])
GOOD_MASK = tensor("mask", [1], DataType.INT64)
LYING = Tensor("x", DataType.FP32, (2, 4), np.zeros((1, 4), dtype=np.float32))

BAD: list[tuple[str, list[Tensor], str]] = [
    ("unknown name", [GOOD_X, GOOD_MASK, tensor("y", [1.0])], "has no input 'y'"),
    ("missing", [GOOD_X], "missing input 'mask'"),
    ("duplicate", [GOOD_X, GOOD_X, GOOD_MASK], "input 'x' is given twice"),
    ("datatype", [tensor("x", [[1, 2, 3, 4]], DataType.FP64), GOOD_MASK], "must be FP32, got FP64"),
    ("rank", [tensor("x", [1, 2, 3, 4]), GOOD_MASK], "must have rank 2"),
    ("static dim", [tensor("x", [[1, 2, 3]]), GOOD_MASK], "dimension 1 must be 4"),
    ("data vs shape", [LYING, GOOD_MASK], "does not match its declared shape"),
]


@pytest.mark.parametrize(("case", "inputs", "message"), BAD, ids=[c[0] for c in BAD])
def test_bad_inputs_are_bad_requests(case: str, inputs: list[Tensor], message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        check_inputs("m", inputs, SPECS)
    assert message in caught.value.message
    assert caught.value.http_status == 400


def test_good_inputs_come_back_in_signature_order() -> None:
    assert list(check_inputs("m", [GOOD_MASK, GOOD_X], SPECS)) == ["x", "mask"]


def test_optional_input_may_be_left_out() -> None:
    assert list(check_inputs("m", [GOOD_X], SPECS, optional=("mask",))) == ["x"]


def test_request_parameters_override_model_defaults() -> None:
    merged = merged_parameters({"return_labels": True, "k": 1}, {"return_labels": False})
    assert merged == {"return_labels": False, "k": 1}


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("true", True), ("False", False), (0, False), (1, True)]
)
def test_flag_accepts_booleans_and_their_spellings(value: bool | int | str, expected: bool) -> None:
    assert flag({"f": value}, "f") is expected


@pytest.mark.parametrize("value", ["maybe", 2, 0.5])
def test_flag_rejects_other_values(value: int | float | str) -> None:
    with pytest.raises(BadRequest, match="parameter 'f' must be a boolean"):
        flag({"f": value}, "f")
