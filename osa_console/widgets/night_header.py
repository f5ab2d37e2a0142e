"""The top line: night, backend, SIMULATION badge, scheduler health, age of the last refresh."""

from __future__ import annotations

import datetime as dt

from rich.style import Style
from rich.text import Text

from osa_console.render import Palette, age, seconds_between
from osa_console.widgets.line import Line
from osa_core.model.snapshot import NightSnapshot

TITLE = "LST-1 OSA"


def header_text(snapshot: NightSnapshot | None, now: dt.datetime, palette: Palette, where: str = "") -> Text:
    text = Text()
    text.append(f" {TITLE} ", style=Style(bold=True, reverse=True))
    if snapshot is None:
        text.append("  opening the night…")
        return text
    # Most important first: on a narrow terminal the end of the line is what gets cut.
    text.append(f"  night {snapshot.date.isoformat()}", style=Style(bold=True))
    if snapshot.simulation:
        # Simulated steps write placeholder products: nobody may mistake them for real data.
        text.append("  ")
        text.append(" SIMULATION ", style=palette.failed_badge)
    text.append("  scheduler ")
    if snapshot.health.ok:
        text.append("✔ ok", style=palette.completed)
    else:
        text.append("✖ NOT ANSWERING", style=palette.failed_badge)
    text.append(f"  refreshed {age(seconds_between(now, snapshot.taken_at))} ago")
    if snapshot.closing:
        text.append(f"  closing: {snapshot.closing}")
    text.append(f"  {snapshot.backend} · {snapshot.profile}", style=palette.muted)
    if where:
        text.append(f"  │ {where}", style=palette.muted)
    return text


class NightHeader(Line):
    DEFAULT_CSS = """
    NightHeader { dock: top; height: 1; background: $panel; }
    """

    def show(
        self, snapshot: NightSnapshot | None, now: dt.datetime, palette: Palette, where: str = ""
    ) -> None:
        self.show_text(header_text(snapshot, now, palette, where))
