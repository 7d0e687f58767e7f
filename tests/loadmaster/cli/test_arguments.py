"""The argparse value types: what each accepts, and the message for what it refuses."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest

from loadmaster.cli.arguments import (
    capabilities,
    memory,
    percent,
    positive,
    seconds,
    seconds_or_zero,
)

ACCEPTED: list[tuple[Callable[[str], Any], str, Any]] = [
    (seconds, "2.5", 2.5),
    (seconds, "1e-3", 0.001),
    (seconds_or_zero, "0", 0.0),
    (seconds_or_zero, "60", 60.0),
    (positive, "1", 1),
    (percent, "0", 0),
    (percent, "150", 150),
    (memory, "1Gi", 1024**3),
    (capabilities, "torch, gpu,", frozenset({"torch", "gpu"})),
]

REFUSED: list[tuple[Callable[[str], Any], str, str]] = [
    (seconds, "0", "must be above 0, got 0"),
    (seconds, "-1", "must be above 0, got -1"),
    (seconds, "soon", "expected seconds, got 'soon'"),
    (seconds, "nan", "expected a finite number of seconds, got 'nan'"),
    (seconds, "inf", "expected a finite number of seconds, got 'inf'"),
    (seconds_or_zero, "-0.5", "must be 0 or more seconds, got -0.5"),
    (seconds_or_zero, "NaN", "expected a finite number of seconds, got 'NaN'"),
    (seconds_or_zero, "-inf", "expected a finite number of seconds, got '-inf'"),
    (positive, "0", "must be at least 1, got 0"),
    (positive, "1.5", "expected an integer, got '1.5'"),
    (percent, "-5", "must be 0 or more, got -5"),
    (percent, "ten", "expected a whole percentage, got 'ten'"),
    (capabilities, " , ", "give at least one capability, e.g. torch"),
]


@pytest.mark.parametrize(("parse", "text", "expected"), ACCEPTED)
def test_a_value_type_accepts(parse: Callable[[str], Any], text: str, expected: Any) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("parse", "text", "message"), REFUSED)
def test_a_value_type_refuses_with_a_message(
    parse: Callable[[str], Any], text: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert str(refused.value) == message
