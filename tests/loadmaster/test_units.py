from __future__ import annotations

import pytest

from loadmaster.units import format_memory, parse_memory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512", 512),
        ("1Ki", 1024),
        ("200Mi", 200 * 2**20),
        ("4Gi", 4 * 2**30),
        ("1.5Gi", 3 * 2**29),
        ("2G", 2 * 10**9),
        ("1k", 1000),
        (1024, 1024),
    ],
)
def test_parse_memory(text: str | int, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["12Zi", "", "Gi", "-1Gi", "1 2Gi", "ten"])
def test_parse_memory_rejects_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 200Mi or 4Gi"):
        parse_memory(text)


@pytest.mark.parametrize(
    ("size", "text"), [(3 * 2**29, "1.5Gi"), (200 * 2**20, "200Mi"), (512, "512")]
)
def test_format_memory(size: int, text: str) -> None:
    assert format_memory(size) == text
