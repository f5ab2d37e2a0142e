"""msgspec's validation error, told as an operator reads it: the dotted key, what was expected, the line.

msgspec says where (``$.scheduler.max_tries``) and what kind of problem; the words come from the
schema's own declarations (type, range, the ``expected`` phrase of a pattern), so an error says
what the docs say, never a regex or a library's type name.
"""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import msgspec

from osa_core.model.config_schema import INT64_MAX
from osa_core.model.toml_lines import line_of

_WHERE = re.compile(r"^(?P<what>.*?) - at `(?:(?P<in_key>key)` in `)?\$(?P<path>[^`]*)`$", re.S)
_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>.*)`$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<name>.*)`$", re.S)
_LIBRARY = ("Expected ", "Invalid enum value")
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SHOWN = 80

Part = str | int


def describe_validation_error(
    message: str, data: Any, schema: type, text: str | None
) -> tuple[str, str, int | None]:
    """(dotted key, what was expected, line in ``text`` or None) for one msgspec error message."""
    match = _WHERE.match(message)
    what = match["what"] if match else message
    parts: list[Part] = _parse_path(match["path"]) if match else []
    try:
        parts = _name_table_entries(parts, data, schema)
        if match and match["in_key"]:
            parts, what = _bad_table_key(parts, data, schema)
        else:
            parts, what = _explain(what, parts, data, schema)
    except (LookupError, TypeError, ValueError, StopIteration):  # a shape this reading did not foresee
        parts = [p for p in parts if p != "..."]
    return _dotted(parts), what, line_of(text, parts) if text is not None else None


def _explain(what: str, parts: list[Part], data: Any, schema: type) -> tuple[list[Part], str]:
    container = _type_at(schema, parts)
    if unknown := _UNKNOWN.match(what):
        return [*parts, unknown["name"]], f"unknown key (expected one of: {_names(container)})"
    if missing := _MISSING.match(what):
        name = missing["name"]
        return [*parts, name], f"missing; expected {describe(_field_types(container).get(name, Any))}"
    if what.startswith(_LIBRARY) or not _field_types(container):
        return parts, f"expected {describe(container)}, got {_shown(_value_at(data, parts))}"
    # A rule of the schema's own (__post_init__): "field: what" names the field.
    name, sep, rest = what.partition(": ")
    if sep and name in _field_types(container):
        return [*parts, name], rest
    return parts, what


def _parse_path(path: str) -> list[Part]:
    return [int(i) if i.isdigit() else (i or name) for name, i in _PART.findall(path)]


def _dotted(parts: list[Part]) -> str:
    """``a.b[0].c`` as TOML spells it; a key that is not a bare word is quoted (one line always)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        word = part if _BARE.fullmatch(part) else json.dumps(part)
        out += f".{word}" if out else word
    return out


def _shown(value: Any) -> str:
    """The value as written, cut short: a wrong value can be a whole table."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _value_at(data: Any, parts: list[Part]) -> Any:
    for part in parts:
        data = data[part]
    return data


def _bad_table_key(parts: list[Part], data: Any, schema: type) -> tuple[list[Part], str]:
    """msgspec does not say which key of a table of steps is wrong: the first one refused is."""
    key_type = typing.get_args(_unwrap(_type_at(schema, parts)))[0]
    for key in _value_at(data, parts):
        try:
            msgspec.convert(key, key_type)
        except msgspec.ValidationError:
            return [*parts, key], f"unknown key: expected {describe(key_type)}"
    return parts, f"expected keys that are {describe(key_type)}"


def _name_table_entries(parts: list[Part], data: Any, schema: type) -> list[Part]:
    """Nor which entry of a table (``[...]``) is wrong: the first one its value type refuses is."""
    named: list[Part] = []
    for part in parts:
        if part == "...":
            value_type = typing.get_args(_unwrap(_type_at(schema, named)))[1]
            for key, value in _value_at(data, named).items():
                try:
                    msgspec.convert(value, value_type)
                except msgspec.ValidationError:
                    part = key
                    break
        named.append(part)
    return named


# --- the schema's types --------------------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """The type without its limits and without ``| None`` (TOML cannot write None)."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) in (types.UnionType, typing.Union):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def _field_types(tp: Any) -> dict[str, Any]:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        hints = typing.get_type_hints(tp, include_extras=True)
        return {name: hints[name] for name in tp.__struct_fields__}
    return {}


def _names(tp: Any) -> str:
    return ", ".join(sorted(_field_types(tp)))


def _type_at(tp: Any, parts: list[Part]) -> Any:
    for part in parts:
        inner = _unwrap(tp)
        if isinstance(part, str) and _field_types(inner):
            tp = _field_types(inner)[part]
        elif typing.get_origin(inner) is list:
            tp = typing.get_args(inner)[0]
        elif typing.get_origin(inner) is dict:
            tp = typing.get_args(inner)[1]
        else:
            return Any
    return tp


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _limits(meta: msgspec.Meta, noun: str) -> str:
    le = None if meta.le == INT64_MAX else meta.le  # the storage limit, not a rule worth reading
    if meta.ge is not None and le is not None:
        return f"{noun} from {_number(meta.ge)} to {_number(le)}"
    bounds = [(">=", meta.ge), (">", meta.gt), ("<=", le), ("<", meta.lt)]
    words = [f"{sign} {_number(value)}" for sign, value in bounds if value is not None]
    return f"{noun} {' and '.join(words)}" if words else noun


def describe(tp: Any) -> str:
    """``an integer from 0 to 23``, ``'local' or 'slurm'``, ``a list of ...``: what a value must be."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *metas = typing.get_args(tp)
        for meta in metas:
            if isinstance(meta, msgspec.Meta):
                if meta.extra and "expected" in meta.extra:
                    return str(meta.extra["expected"])
                return _limits(meta, describe(inner))
        return describe(inner)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(describe(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list, each {describe(typing.get_args(tp)[0])}"
    if origin is dict:
        key, value = typing.get_args(tp)
        return f"a table whose keys are each {describe(key)} and whose values are each {describe(value)}"
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return "a table"
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Path: "a path (not empty, on one line)",
    }
    return names.get(tp, getattr(tp, "__name__", str(tp)))
