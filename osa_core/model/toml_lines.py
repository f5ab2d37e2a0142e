"""Where a key is written in a TOML text: the line an error message points at.

tomllib gives values without positions, so this reads the text's table headers and ``key =``
lines. It is a best effort for error messages only: quoted keys and multi-line strings are not
followed, and a key that is not written at all is pointed at through its table's header.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\s-]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*=")


def line_of(text: str, parts: list[str | int]) -> int | None:
    """The 1-based line that writes the longest leading part of ``parts`` (``scheduler``,
    ``max_tries``; ``failures``, 1 for the second ``[[...failures]]``), or None."""
    table: list[str | int] = []
    seen: dict[tuple[str, ...], int] = {}
    best, best_len = None, 0
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _HEADER.match(line):
            names = tuple(n.strip() for n in header[2].split("."))
            table = list(names)
            if header[1] == "[[":
                index = seen.get(names, -1) + 1
                seen[names] = index
                table.append(index)
            full = table
        elif key := _KEY.match(line):
            full = [*table, *(n.strip() for n in key[1].split("."))]
        else:
            continue
        common = _common(full, parts)
        if common == len(full) and common > best_len:
            best, best_len = number, common
    return best


def _common(a: list[str | int], b: list[str | int]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n
