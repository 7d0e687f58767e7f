"""Resource names: one rule for models and experiments, because both end up in URLs
(`/v2/models/NAME/infer`), store keys and Kafka topic names, where '/' or a space would break
things far from where the name was written."""

from __future__ import annotations

MAX_NAME_LENGTH = 128
NAME_RULE = (
    f"use letters, digits, '_', '.', '-' (at most {MAX_NAME_LENGTH}), starting with a letter or "
    "digit"
)


def valid_name(name: str) -> bool:
    if not name or len(name) > MAX_NAME_LENGTH or not name[0].isascii() or not name[0].isalnum():
        return False
    return all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)


def name_problem(path: str, name: str, what: str = "name") -> str | None:
    """`PATH: problem` when `name` breaks the rule, else None."""
    if not name:
        return f"{path}: must not be empty"
    if not valid_name(name):
        return f"{path}: {name!r} is not a valid {what}: {NAME_RULE}"
    return None
