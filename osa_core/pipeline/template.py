"""Placeholders in a profile file's words: ``{name}``, ``{name.name}``, ``{name:04d}``.

Pure. A word whose placeholders are all defined expands to a string; a word that names an
undefined one expands to nothing (``None``): the caller leaves out the step, the argument group
or the path it belongs to, or says what is missing. Undefined is absent, ``None``, ``""`` or
``False``; list values (the subrun files of a run) expand only as a whole word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

Value = str | int | Path | tuple[Path, ...] | None
Values = Mapping[str, Value]

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(\.name)?(?::([^{}]*))?\}")
NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


def names_in(word: str) -> list[str]:
    """The placeholder names a word uses, in order."""
    return [m.group(1) for m in PLACEHOLDER.finditer(word)]


def syntax_problem(word: str) -> str | None:
    """Why a word is not a valid template (a brace that opens no placeholder), or None."""
    rest = PLACEHOLDER.sub("", word)
    if "{" in rest or "}" in rest:
        return f"{word!r}: a brace that is not a placeholder like {{name}}, {{name.name}} or {{name:04d}}"
    return None


def defined(values: Values, name: str) -> bool:
    value = values.get(name)
    return value is not None and value != "" and value is not False and value != ()


def list_word(word: str) -> str | None:
    """The placeholder name if the word is exactly one placeholder (a list may expand there)."""
    m = PLACEHOLDER.fullmatch(word)
    return m.group(1) if m and not m.group(2) and not m.group(3) else None


def expand(word: str, values: Values) -> str | None:
    """The word with its placeholders filled in, or None if one of them is undefined."""
    missing = False

    def fill(m: re.Match[str]) -> str:
        nonlocal missing
        name, attr, spec = m.group(1), m.group(2), m.group(3)
        if not defined(values, name):
            missing = True
            return ""
        value = values[name]
        if isinstance(value, tuple):
            raise ValueError(f"{{{name}}} is a list of files: it can only stand alone in inputs or outputs")
        if attr:
            value = Path(str(value)).name
        return format(value, spec) if spec else str(value)

    out = PLACEHOLDER.sub(fill, word)
    return None if missing else out


def expand_paths(word: str, values: Values) -> tuple[Path, ...] | None:
    """Paths of an inputs/outputs word: a list placeholder standing alone gives all its files."""
    name = list_word(word)
    if name is not None and isinstance(values.get(name), tuple):
        return tuple(values[name])  # type: ignore[arg-type]
    text = expand(word, values)
    return None if text is None else (Path(text),)
