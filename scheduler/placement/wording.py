"""Phrases shared by the reasons users read, so every filter says costs the same way."""

from __future__ import annotations

from loadmaster.units import format_memory


def count(n: int, singular: str, plural: str | None = None) -> str:
    """'1 server', '3 servers'."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


# The example reasons in the brief write the product with a multiplication sign.
TIMES = "\N{MULTIPLICATION SIGN}"


def per_replica(per_instance: int, workers: int, what: str = "") -> str:
    """'2Gi per replica (512Mi TIMES 4 workers)': the multiplication is what users miss."""
    total = format_memory(per_instance * workers)
    instance = format_memory(per_instance)
    return f"{total}{what} per replica ({instance} {TIMES} {count(workers, 'worker')})"


def free(available: int, needed: int) -> str:
    """Free memory as text that reads below `needed` whenever it is below it.

    Rounding to one decimal would print "needs 3Gi ..., has 3Gi free" for 2.98Gi free, so a
    collision falls back to whole mebibytes (rounded down), then to bytes. Free memory can be
    negative after an overcommit change; users read that as none.
    """
    available = max(available, 0)
    text = format_memory(available)
    if text != format_memory(needed) or available >= needed:
        return text
    if needed - available >= 2**20:
        return f"{available // 2**20}Mi"
    return f"{available} bytes"
