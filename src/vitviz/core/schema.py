"""Typed parsing of nested dicts into dataclasses, collecting every error with its key path."""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, Union


class ConfigError(ValueError):
    """A parameters file with one or more invalid keys; `errors` holds one line per key."""

    def __init__(self, errors: list[str], source: str = "params"):
        self.errors = list(errors)
        self.source = source
        head = f"{source}: {len(errors)} invalid parameter{'s' if len(errors) != 1 else ''}"
        super().__init__(head + "\n" + "\n".join(f"  - {e}" for e in errors))


def rule(default: Any = dataclasses.MISSING, *, min: float | None = None, max: float | None = None,
         help: str = "", factory: Any = None) -> Any:
    """A dataclass field with bounds and a help text used in error messages."""
    meta = {"min": min, "max": max, "help": help}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _bounds_ok(value: Any, meta: Any, key: str, errors: list[str]) -> bool:
    lo, hi = meta.get("min"), meta.get("max")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
            errors.append(f"{key}: {value!r} is out of range; allowed: {rng}")
            return False
    return True


def parse_value(tp: Any, value: Any, key: str, errors: list[str], meta: Any = None) -> Any:
    """Convert `value` to type `tp`, appending a message to `errors` on failure."""
    meta = meta or {}
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        for a in non_none:
            trial: list[str] = []
            out = parse_value(a, value, key, trial, meta)
            if not trial:
                return out
        if len(non_none) == 1:
            return parse_value(non_none[0], value, key, errors, meta)
        errors.append(f"{key}: expected {_type_name(tp)}, got {value!r}")
        return None
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            errors.append(f"{key}: {value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")
        return value
    if dataclasses.is_dataclass(tp):
        return parse_dataclass(tp, value, key, errors)
    if origin in (list, tuple):
        (item_tp,) = typing.get_args(tp)[:1] or (Any,)
        if not isinstance(value, (list, tuple)):
            errors.append(f"{key}: expected {_type_name(tp)}, got {value!r}")
            return []
        out = [parse_value(item_tp, v, f"{key}[{i}]", errors, meta) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        k_tp, v_tp = typing.get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            errors.append(f"{key}: expected a mapping, got {value!r}")
            return {}
        return {k: parse_value(v_tp, v, f"{key}.{k}", errors) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            errors.append(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{key}: expected an integer, got {value!r}")
            return value
        _bounds_ok(value, meta, key, errors)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(f"{key}: expected a number, got {value!r}")
            return value
        _bounds_ok(value, meta, key, errors)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            errors.append(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported schema type {tp!r} at {key}")


def parse_dataclass(cls: type, data: Any, key: str, errors: list[str]) -> Any:
    """Build `cls` from a mapping; unknown keys, missing keys and bad values are all reported."""
    where = key or "(top level)"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors.append(f"{where}: expected a mapping, got {data!r}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{key}." if key else ""
    for name in data:
        if name not in fields:
            close = difflib.get_close_matches(str(name), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{prefix}{name}: unknown key{hint}; allowed: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = parse_value(hints[name], data[name], prefix + name, errors, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            errors.append(f"{prefix}{name}: missing; expected {_type_name(hints[name])}"
                          + (f" ({f.metadata['help']})" if f.metadata.get("help") else ""))
            kwargs[name] = None
    try:
        obj = cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the checks above
        errors.append(f"{where}: {exc}")
        return None
    check = getattr(obj, "check", None)
    if callable(check):
        check(key, errors)
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-data view of a parsed config (dataclasses to dicts, tuples to lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
