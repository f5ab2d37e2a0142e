"""The console's few remembered choices (the theme), in a small JSON file in the state dir.

``$XDG_STATE_HOME/osa-console/prefs.json`` (``~/.local/state/...`` by default). A missing or
unreadable file means the defaults: preferences are a convenience, never a reason not to start.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Prefs:
    theme: str | None = None


def default_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "osa-console" / "prefs.json"


def load(path: Path) -> Prefs:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Prefs()
    theme = data.get("theme") if isinstance(data, dict) else None
    return Prefs(theme=theme if isinstance(theme, str) else None)


def save(path: Path, prefs: Prefs) -> None:
    """Write whole or not at all (temporary name, then rename); failures are ignored on purpose."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".prefs-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(prefs), out)
        os.replace(tmp, path)
    except OSError:
        pass
