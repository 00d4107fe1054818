"""Settings as validated pydantic models: the base class of every params section, and its errors as one readable
line per bad key path."""
from __future__ import annotations

import difflib
import json
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from vitviz.core.errors import ConfigError

NonNegative = Annotated[float, Field(ge=0.0)]
FeatureIndex = Annotated[int, Field(ge=0)]
Split = Literal["train", "val"]


class Strict(BaseModel):
    """A params mapping whose unknown keys are errors."""
    model_config = ConfigDict(extra="forbid")


def rule_errors(title: str, errors: list[tuple[tuple, str]]) -> None:
    """Raise every rule violation of a model at once, each at its key path (relative to the model)."""
    if errors:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError("rule", "{msg}", {"msg": msg}), loc=loc, input=None)
            for loc, msg in errors])


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_EXPECTED = {"int_type": int, "int_parsing": int, "int_from_float": int, "float_type": float,
             "float_parsing": float, "bool_type": bool, "bool_parsing": bool, "string_type": str}
_MAPPING = {"dict_type", "model_type", "model_attributes_type", "dataclass_type", "dataclass_args_type"}
_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}
_BOUNDS = {"ge": annotated_types.Ge, "gt": annotated_types.Gt, "le": annotated_types.Le, "lt": annotated_types.Lt}


def _fields(tp: Any) -> dict[str, Any] | None:
    fields = getattr(tp, "__pydantic_fields__", None)
    return fields if isinstance(tp, type) and isinstance(fields, dict) else None


def _unwrap(tp: Any, meta: list) -> Any:
    """`tp` without Optional and Annotated; Annotated constraints are appended to `meta`."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            args = typing.get_args(tp)
            for m in args[1:]:
                meta.extend(getattr(m, "metadata", [m]))
            tp = args[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _node(root: Any, loc: tuple) -> tuple[Any, list]:
    """The declared type at `loc` under `root` and its constraints; (None, []) where the path leaves the schema."""
    tp, meta = root, []
    for part in loc:
        meta = []
        tp = _unwrap(tp, meta)
        fields, origin = _fields(tp), typing.get_origin(tp)
        if fields is not None:
            if part not in fields:
                return None, []
            meta = list(fields[part].metadata)
            tp = fields[part].annotation
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin is list:
            tp = typing.get_args(tp)[0]
        elif origin is tuple and isinstance(part, int) and part < len(typing.get_args(tp)):
            tp = typing.get_args(tp)[part]
        else:
            return None, []
    return _unwrap(tp, meta), meta


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _range(meta: list, ctx: dict) -> str:
    b = {name: getattr(m, name) for m in meta for name, cls in _BOUNDS.items() if isinstance(m, cls)} or ctx
    lo = f"[{b['ge']}" if "ge" in b else (f"({b['gt']}" if "gt" in b else "(-inf")
    hi = f"{b['le']}]" if "le" in b else (f"{b['lt']})" if "lt" in b else "inf)")
    return f"{lo}, {hi}"


def _tuple_words(tp: Any) -> str:
    args = typing.get_args(tp)
    nouns = {int: "integers", float: "numbers", str: "strings"}
    return f"a list of {len(args)} {nouns.get(_unwrap(args[0], []), 'values') if args else 'values'}"


def _line(err: dict, root: Any, prefix: tuple) -> tuple[str, str]:
    """(key path, message) of one pydantic error of a value of type `root` found at key path `prefix`."""
    loc, kind, value, ctx = tuple(err["loc"]), err["type"], err.get("input"), err.get("ctx") or {}
    node = lambda at: _node(root, at)  # noqa: E731
    path = lambda at: _path(prefix + at)  # noqa: E731
    if kind in ("missing", "too_short", "too_long") and loc:
        parent = loc[:-1] if kind == "missing" and isinstance(loc[-1], int) else loc
        tp, _ = node(parent)
        if typing.get_origin(tp) is tuple:
            return path(parent), f"expected {_tuple_words(tp)}, got {value!r}"
    if kind == "missing":
        fields = _fields(node(loc[:-1])[0]) or {}
        about = getattr(fields.get(loc[-1]), "description", None) if loc else None
        return path(loc), "missing; required" + (f" ({about})" if about else "")
    if kind in _UNKNOWN:
        allowed = list(_fields(node(loc[:-1])[0]) or {})
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return path(loc), f"unknown key{hint}; allowed: {', '.join(allowed)}"
    if kind == "literal_error":
        tp, _ = node(loc)
        allowed = typing.get_args(tp) if typing.get_origin(tp) is Literal else (ctx.get("expected", ""),)
        return path(loc), f"{value!r} is not allowed; allowed: {', '.join(map(str, allowed))}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return path(loc), f"{value!r} is out of range; allowed: {_range(node(loc)[1], ctx)}"
    if kind == "too_short":
        return path(loc), f"expected at least {ctx.get('min_length')} item(s), got {value!r}"
    if kind in _EXPECTED:
        return path(loc), f"expected {_TYPE_WORDS[_EXPECTED[kind]]}, got {value!r}"
    if kind in _MAPPING:
        return path(loc), f"expected a mapping, got {value!r}"
    if kind in ("list_type", "tuple_type"):
        return path(loc), f"expected a list, got {value!r}"
    return path(loc), err["msg"]


def error_lines(exc: ValidationError, root: Any, prefix: tuple = ()) -> list[str]:
    """One readable line per bad key path of a ValidationError of a value of type `root` at key path `prefix`."""
    lines = {}
    for err in exc.errors(include_url=False):
        path, msg = _line(err, root, prefix)
        lines.setdefault(f"{path}: {msg}", None)
    return list(lines)


def parse(root: Any, data: Any, source: str = "params", prefix: tuple = ()) -> Any:
    """`data` validated as `root` (a settings class or type); a ConfigError lists every bad key."""
    try:
        # Strict, through JSON: no silent coercion ("3" to 3, 1 to true), and YAML lists still make tuples.
        empty = {} if _fields(root) is not None or typing.get_origin(root) is dict else None
        raw = json.dumps(empty if data is None else data, default=str)
        return TypeAdapter(root).validate_json(raw, strict=True)
    except ValidationError as exc:
        raise ConfigError(error_lines(exc, root, prefix), source) from None


def read_yaml(path: str | Path) -> dict:
    """The mapping of a params file; a missing or malformed file is a ConfigError naming the fix."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found; run from the project root or pass --params"], str(path))
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"], str(path))
    if data is not None and not isinstance(data, dict):
        raise ConfigError([f"(top level): expected a mapping, got {data!r}"], str(path))
    return data or {}


def read_sections(path: str | Path, sections: dict[str, Any]) -> dict[str, Any]:
    """Only the named sections of a params file, each validated as its type ({name: type}); the others are not
    read, so a stage depends on the schemas of its own sections alone (the full file is checked by Params)."""
    data = read_yaml(path)
    out, errors = {}, []
    for name, tp in sections.items():
        try:
            out[name] = parse(tp, data.get(name), str(path), (name,))
        except ConfigError as exc:
            errors += exc.errors
    if errors:
        raise ConfigError(errors, str(path))
    return out
