"""Type-directed conversion between Python values and plain JSON data, for stored records.

Conversion follows the *declared* field types, not the runtime values, so decoding returns
exactly what was encoded: tuples stay tuples, frozensets frozensets, enum members enum members,
and a value that could not come back as itself (a list in a tuple field, True in an int field)
is refused when written rather than silently changed. Set members are sorted so equal records
encode to equal bytes.

Supported: bool, int, float, str, bytes (base64), enums, nested dataclasses, ``tuple[X, ...]``
and fixed tuples, list, frozenset, set, dict with str, int or enum keys, ``X | None``, and
``Any`` (kept as the JSON it is).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import types
import typing
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")
OnUnknown = Callable[[type, str], None]
"""Called with (record class, field name) for each stored field the class does not declare."""


class CodecError(ValueError):
    """Stored bytes or a record that does not fit the declared types; the path says where."""


def to_json(value: Any, tp: Any, path: str) -> Any:
    """`value` as plain JSON data, following its declared type `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if _is_union(tp):
        return None if value is None else to_json(value, _optional_of(tp, path), path)
    _check_instance(value, tp, origin, path)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return value.value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return {n: to_json(getattr(value, n), t, f"{path}.{n}") for n, t, _ in fields_of(tp)}
    if tp in (bool, int, str, float):
        return float(value) if tp is float else value
    if tp is bytes:
        return base64.b64encode(value).decode()
    if origin in (tuple, list):
        return [to_json(v, t, f"{path}[{i}]") for i, (v, t) in enumerate(_typed(value, args, path))]
    if origin in (frozenset, set):
        encoded = [to_json(v, args[0], f"{path}[]") for v in value]
        return sorted(encoded, key=lambda v: json.dumps(v, sort_keys=True))
    if origin is dict:
        return {
            _key_to_json(k, args[0], path): to_json(v, args[1], f"{path}[{k!r}]")
            for k, v in value.items()
        }
    raise CodecError(f"{path}: unsupported field type {tp}")


def from_json(data: Any, tp: Any, path: str, on_unknown: OnUnknown) -> Any:
    """Plain JSON `data` back into a value of type `tp`; `path` names the spot in errors."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return data
    if _is_union(tp):
        return None if data is None else from_json(data, _optional_of(tp, path), path, on_unknown)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _enum_member(tp, data, path)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _record(_expect(data, dict, path), tp, path, on_unknown)
    if tp is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if tp in (bool, int, str):
        if type(data) is not tp:
            raise CodecError(f"{path}: expected {tp.__name__}, got {data!r}")
        return data
    if tp is bytes:
        try:
            return base64.b64decode(_expect(data, str, path), validate=True)
        except ValueError:
            raise CodecError(f"{path}: not base64: {data!r}") from None
    if origin in (tuple, list, frozenset, set):
        items = _expect(data, list, path)
        typed = (
            _typed(items, args, path) if origin in (tuple, list) else [(v, args[0]) for v in items]
        )
        return origin(from_json(v, t, f"{path}[{i}]", on_unknown) for i, (v, t) in enumerate(typed))
    if origin is dict:
        return {
            _key_from_json(k, args[0], path): from_json(v, args[1], f"{path}[{k!r}]", on_unknown)
            for k, v in _expect(data, dict, path).items()
        }
    raise CodecError(f"{path}: unsupported field type {tp}")


@functools.cache
def fields_of(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, resolved type, has a default) for each init field; resolved once per class."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, hints[f.name], _has_default(f)) for f in dataclasses.fields(cls) if f.init
    )


def _record(data: dict[str, Any], cls: type, path: str, on_unknown: OnUnknown) -> Any:
    """A dataclass from its fields: missing ones take defaults, unknown ones are reported."""
    known = fields_of(cls)
    kwargs: dict[str, Any] = {}
    for name, tp, has_default in known:
        if name in data:
            kwargs[name] = from_json(data[name], tp, f"{path}.{name}", on_unknown)
        elif not has_default:
            raise CodecError(f"{path}: missing required field {name!r}")
    for name in sorted(data.keys() - {k for k, _, _ in known}):
        on_unknown(cls, name)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise CodecError(f"{path}: {cls.__name__} rejected the stored fields: {error}") from None


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _optional_of(tp: Any, path: str) -> Any:
    args = typing.get_args(tp)
    inner = [a for a in args if a is not type(None)]
    if len(inner) != 1 or len(args) != 2:
        raise CodecError(f"{path}: only `X | None` unions are supported, not {tp}")
    return inner[0]


def _check_instance(value: Any, tp: Any, origin: Any, path: str) -> None:
    """Refuse values that would not decode back to themselves (a list in a tuple field)."""
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(origin or tp, type):
        ok = isinstance(value, origin or tp)
    else:
        raise CodecError(f"{path}: unsupported field type {tp}")
    if not ok:
        raise CodecError(f"{path or 'record'}: expected {tp}, got {value!r}")


def _typed(items: Any, args: tuple[Any, ...], path: str) -> list[tuple[Any, Any]]:
    """Pair each element with its declared type (fixed tuples, ``tuple[X, ...]``, lists)."""
    if (len(args) == 2 and args[1] is Ellipsis) or len(args) == 1:
        return [(v, args[0]) for v in items]
    if len(items) != len(args):
        raise CodecError(f"{path}: expected {len(args)} elements, got {len(items)}")
    return list(zip(items, args, strict=True))


def _enum_member(tp: type[Enum], data: Any, path: str) -> Enum:
    for member in tp:
        if member.value == data and type(member.value) is type(data):
            return member
    raise CodecError(f"{path}: {data!r} is not a known {tp.__name__}")


def _key_to_json(key: Any, tp: Any, path: str) -> str:
    if isinstance(tp, type) and issubclass(tp, Enum) and isinstance(key, tp):
        return str(key.value)
    if tp is str and isinstance(key, str):
        return key
    if tp is int and isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise CodecError(f"{path}: dict keys must be str, int or enum values, got {key!r} for {tp}")


def _key_from_json(key: str, tp: Any, path: str) -> Any:
    if isinstance(tp, type) and issubclass(tp, Enum):
        for member in tp:
            if str(member.value) == key:
                return member
        raise CodecError(f"{path}: dict key {key!r} is not a known {tp.__name__}")
    if tp is int:
        try:
            return int(key)
        except ValueError:
            raise CodecError(f"{path}: dict key {key!r} is not an int") from None
    return key


def _expect(data: Any, tp: type[T], path: str) -> T:
    if not isinstance(data, tp):
        raise CodecError(f"{path}: expected a JSON {tp.__name__}, got {data!r}")
    return data
