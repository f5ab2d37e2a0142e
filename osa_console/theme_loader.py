"""Console themes: TOML files in ``osa_console/themes/`` turned into Textual themes.

A theme file holds the arguments of :class:`textual.theme.Theme` (``name``, ``primary``,
``background``...) and a ``[variables]`` table, where ``state-failed``, ``state-running`` etc.
set the colours of job states (see :data:`osa_console.render.STATE_VARIABLES`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

DEFAULT_THEME = "osa-dark"
THEME_ORDER = ("osa-dark", "osa-light", "osa-night")
"""The order ``t`` cycles through."""


class ThemeFileError(ValueError):
    pass


def theme_from_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Theme(**data)
    except (OSError, tomllib.TOMLDecodeError, TypeError) as exc:
        raise ThemeFileError(f"{path}: not a theme file: {exc}") from None


THEMES_DIR = Path(__file__).resolve().parent / "themes"
"""Shipped as package data next to this module (``themes/`` at the repo root links here).

Found from ``__file__`` rather than ``importlib.resources``: the latter refuses a package that
an editable install registered as a namespace package."""


def bundled_themes(folder: Path = THEMES_DIR) -> list[Theme]:
    """The themes shipped in the package (read from the installed files, wherever we run)."""
    return [theme_from_file(path) for path in sorted(folder.glob("*.toml"))]
