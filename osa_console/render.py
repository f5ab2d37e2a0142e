"""Pure rendering helpers: states, durations, ages and progress bars as Rich text.

Nothing here imports Textual: colours come in as a :class:`Palette` built from the current
theme's CSS variables, so a theme change only means building a new palette and re-rendering.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from osa_core.model.states import JobState

# A glyph per state as well as a colour: the night theme is red on black, so colour alone
# cannot tell states apart there, and a failed row must stand out on every theme.
GLYPHS: dict[JobState, str] = {
    JobState.COMPLETED: "✔",
    JobState.RUNNING: "▶",
    JobState.PENDING: "…",
    JobState.NOT_SUBMITTED: "·",
    JobState.BLOCKED: "⊘",
    JobState.UNKNOWN: "?",
    JobState.FAILED: "✖",
    JobState.CANCELLED: "✖",
    JobState.TIMEOUT: "✖",
    JobState.OUT_OF_MEMORY: "✖",
    JobState.NODE_FAIL: "✖",
}
FAILED_GLYPH = "✖"
MARK_GLYPH = "◆"

# Short names keep the state column narrow; the help screen spells them out.
SHORT: dict[JobState, str] = {
    JobState.COMPLETED: "DONE",
    JobState.RUNNING: "RUN",
    JobState.PENDING: "PEND",
    JobState.NOT_SUBMITTED: "NEW",
    JobState.BLOCKED: "BLOCKED",
    JobState.UNKNOWN: "UNKNOWN",
    JobState.FAILED: "FAILED",
    JobState.CANCELLED: "CANCELLED",
    JobState.TIMEOUT: "TIMEOUT",
    JobState.OUT_OF_MEMORY: "OOM",
    JobState.NODE_FAIL: "NODE_FAIL",
}

# Theme variables a theme file may set (``[variables]``), with the Textual variable each one
# falls back to when a theme (e.g. a built-in one picked from the palette) does not set it.
STATE_VARIABLES: dict[str, str] = {
    "state-completed": "success",
    "state-running": "primary",
    "state-pending": "foreground-muted",
    "state-blocked": "warning",
    "state-failed": "error",
    "state-unknown": "warning",
}


@dataclass(frozen=True, slots=True)
class Palette:
    completed: Style
    running: Style
    pending: Style
    blocked: Style
    failed: Style
    unknown: Style
    failed_badge: Style
    """The state cell of a failed row: reversed, so it shows even on a red-on-black theme."""
    bar_empty: Style
    muted: Style

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> Palette:
        background = variables.get("background", "")

        def colour(name: str) -> Style:
            value = variables.get(name) or variables.get(STATE_VARIABLES[name]) or ""
            return Style.parse(_plain_colour(value, background)) if value else Style()

        failed = colour("state-failed")
        muted_value = variables.get("foreground-muted") or ""
        return cls(
            completed=colour("state-completed"),
            running=colour("state-running"),
            pending=colour("state-pending"),
            blocked=colour("state-blocked"),
            failed=failed + Style(bold=True),
            unknown=colour("state-unknown"),
            failed_badge=failed + Style(bold=True, reverse=True),
            bar_empty=Style.parse(_plain_colour(muted_value, background)) if muted_value else Style(dim=True),
            muted=Style.parse(_plain_colour(muted_value, background)) if muted_value else Style(dim=True),
        )

    def state(self, state: JobState) -> Style:
        if state.failed:
            return self.failed
        return {
            JobState.COMPLETED: self.completed,
            JobState.RUNNING: self.running,
            JobState.BLOCKED: self.blocked,
            JobState.UNKNOWN: self.unknown,
        }.get(state, self.pending)


def _plain_colour(value: str, background: str = "") -> str:
    """Textual variables may carry an alpha (``#rrggbbaa``); Rich wants an opaque colour.

    The alpha is blended over the theme's background, so "muted" stays muted.
    """
    value = value.strip().split()[0]
    if value.startswith("#") and len(value) == 9:
        alpha = int(value[7:9], 16) / 255
        fg = [int(value[i : i + 2], 16) for i in (1, 3, 5)]
        bg_hex = background.strip()[:7] if background.strip().startswith("#") else "#000000"
        bg = [int(bg_hex[i : i + 2], 16) for i in (1, 3, 5)] if len(bg_hex) == 7 else [0, 0, 0]
        mixed = [round(f * alpha + b * (1 - alpha)) for f, b in zip(fg, bg, strict=True)]
        return "#" + "".join(f"{c:02x}" for c in mixed)
    if value.startswith("ansi_"):
        return value[5:]
    return value


DEFAULT_PALETTE = Palette.from_variables(
    {
        "success": "#4EBF71",
        "primary": "#0178D4",
        "foreground-muted": "#808080",
        "warning": "#ffa62b",
        "error": "#ff4f5e",
    }
)


def state_text(state: JobState, palette: Palette) -> Text:
    label = f"{GLYPHS[state]} {SHORT[state]}"
    if state.failed:
        return Text(label, style=palette.failed_badge)
    return Text(label, style=palette.state(state))


def as_utc(value: dt.datetime) -> dt.datetime:
    """Everything is UTC; a naive time from a fixture or old ledger is read as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def seconds_between(later: dt.datetime, earlier: dt.datetime) -> float:
    return (as_utc(later) - as_utc(earlier)).total_seconds()


def duration(seconds: float | None) -> str:
    """Compact and fixed-ish width: ``42.1s``, ``3m07s``, ``2h04m``."""
    if seconds is None:
        return ""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def age(seconds: float | None) -> str:
    """How long ago, for people: ``4 s``, ``3 min``, ``2 h 05 min``."""
    if seconds is None:
        return "never"
    seconds = max(seconds, 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def clock_time(value: dt.datetime | None) -> str:
    return "" if value is None else as_utc(value).strftime("%H:%M:%S")


BLOCKS = " ▏▎▍▌▋▊▉█"


def segmented_bar(counts: Mapping[JobState, int], total: int, width: int, palette: Palette) -> Text:
    """A bar of ``width`` cells: completed, then failed, then running, then the rest.

    Failed work gets its own red segment so that a mostly-done run with failures does not
    look healthy at a glance.
    """
    total = max(total, 1)
    done = counts.get(JobState.COMPLETED, 0)
    failed = sum(n for state, n in counts.items() if state.failed)
    running = counts.get(JobState.RUNNING, 0)
    segments = [(done, palette.completed), (failed, palette.failed), (running, palette.running)]
    # At least one cell for any non-empty segment: one failed subrun out of 250 must show.
    cells = [max(1, round(width * n / total)) if n else 0 for n, _ in segments]
    while sum(cells) > width:
        largest = cells.index(max(cells))
        cells[largest] -= 1
    text = Text()
    for n, (_, style) in zip(cells, segments, strict=True):
        if n:
            text.append("█" * n, style=style)
    if sum(cells) < width:
        text.append("░" * (width - sum(cells)), style=palette.bar_empty)
    return text


def progress_cell(counts: Mapping[JobState, int], total: int, palette: Palette, width: int = 12) -> Text:
    done = counts.get(JobState.COMPLETED, 0)
    pct = 100.0 * done / total if total else 100.0
    text = segmented_bar(counts, total, width, palette)
    text.append(f" {pct:3.0f}%")
    return text
