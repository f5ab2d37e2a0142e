"""How a console instance runs: the clock, timings and where preferences live.

The command uses the defaults; tests pass a fixed clock, no cursor blink, no automatic refresh
and a preferences file in a temporary directory, so that snapshots are deterministic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from osa_console import prefs


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ConsoleSettings:
    clock: Callable[[], dt.datetime] = utc_now
    """Now, in UTC: the header's "refreshed N s ago" and running durations are measured with it."""
    theme: str | None = None
    """A theme chosen on the command line; wins over the remembered one for this session."""
    prefs_path: Path = field(default_factory=prefs.default_path)
    """Where the chosen theme is remembered."""
    cursor_blink: bool = True
    """Blinking cursor in the search box (off in snapshot tests)."""
    auto_refresh: bool = True
    """Refresh in the background at the engine's interval; off: only on ``r``."""
    min_refresh: float = 0.5
    max_refresh: float = 60.0
    """Bounds on the engine's ``next_refresh``, so that a bad value neither spins nor stalls."""
    tick_seconds: float = 1.0
    """How often the header's age and running durations are redrawn."""
    log_poll_seconds: float = 0.5
    """How often an open log file is polled for growth, truncation and rotation."""
    freeze_heap: bool = True
    """Once up, keep the garbage collector off what lives as long as the console (osa_console/heap.py)."""
    read_only: bool = False
    """Refuse the actions that change the night (resubmit, cancel, close, push): a console served to
    a browser is read-only unless started with ``--allow-actions`` (osa_console/serve.py)."""
