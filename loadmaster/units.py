"""Memory quantities as Kubernetes writes them: `200Mi`, `4Gi`, `1.5G`, `512` (bytes)."""

from __future__ import annotations

import re

_SUFFIX = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]{0,2})\s*$")


def parse_memory(text: str | int) -> int:
    """Bytes in `text`; ValueError with the accepted suffixes for anything else (e.g. `12Zi`)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"memory must not be negative, got {text}")
        return text
    match = _QUANTITY.match(str(text))
    if not match or match.group(2) not in _SUFFIX:
        accepted = ", ".join(s for s in _SUFFIX if s)
        raise ValueError(
            f"invalid memory quantity {text!r}: expected a number with an optional suffix "
            f"({accepted}), e.g. 200Mi or 4Gi"
        )
    return int(float(match.group(1)) * _SUFFIX[match.group(2)])


def format_memory(size: int) -> str:
    """A short human form: 1536Mi -> '1.5Gi'."""
    for suffix, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if abs(size) >= factor:
            value = size / factor
            return f"{value:.1f}".rstrip("0").rstrip(".") + suffix
    return str(size)
