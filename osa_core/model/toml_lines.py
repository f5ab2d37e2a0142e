"""Where a key is written in a TOML text: the line an error message points at.

tomllib gives values without positions, so this reads the text's table headers and ``key =``
lines. It is a best effort for error messages only: multi-line strings are not followed, and a
key that is not written at all is pointed at through its table's header.
"""

from __future__ import annotations

import json
import re

_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_ONE = re.compile(_PART)


def _names(dotted: str) -> list[str | int]:
    """``a."b.c".'d'`` -> ``a``, ``b.c``, ``d``."""
    out: list[str | int] = []
    for token in _ONE.findall(dotted):
        if token.startswith('"'):
            try:
                token = json.loads(token)
            except ValueError:  # a TOML escape JSON does not know (\e, \UXXXXXXXX): compare as written
                token = token[1:-1]
        elif token.startswith("'"):
            token = token[1:-1]
        out.append(token)
    return out


def line_of(text: str, parts: list[str | int]) -> int | None:
    """The 1-based line that writes the longest leading part of ``parts`` (``scheduler``,
    ``max_tries``; ``failures``, 1 for the second ``[[...failures]]``), or None."""
    table: list[str | int] = []
    seen: dict[tuple[str | int, ...], int] = {}
    best, best_len = None, 0
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _HEADER.match(line):
            names = tuple(_names(header[2]))
            table = list(names)
            if header[1] == "[[":
                index = seen.get(names, -1) + 1
                seen[names] = index
                table.append(index)
            full = table
        elif key := _KEY.match(line):
            full = [*table, *_names(key[1])]
        else:
            continue
        common = _common(full, parts)
        # This line writes a table or key that holds the one wanted, or writes it in a dotted key.
        if common in (len(full), len(parts)) and common > best_len:
            best, best_len = number, common
    return best


def _common(a: list[str | int], b: list[str | int]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n
