"""The top line: night, SIMULATION badge, scheduler health, age of the last refresh, the ETA, backend.

The ETA's basis (medians, subruns left, concurrency seen) is the line's tooltip: on hover, and
in the help screen.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text

from osa_console.render import Palette, age, as_utc, seconds_between
from osa_console.widgets.line import Line
from osa_core.model.snapshot import NightSnapshot

if TYPE_CHECKING:
    from osa_core.shift import Eta

TITLE = "LST-1 OSA"


def eta_text(eta: Eta | None, now: dt.datetime) -> str:
    """``ends ~03:42 UTC (in 1 h 12 min)``, ``all run``, ``end unknown``; empty before the first estimate."""
    if eta is None:
        return ""
    if eta.done:
        return "all run" + (f" ({eta.blocked} blocked)" if eta.blocked else "")
    if eta.at is None:
        return "end unknown"
    left = seconds_between(eta.at, now)
    if left <= 0:
        return f"ends ~{as_utc(eta.at):%H:%M} UTC (overdue)"
    return f"ends ~{as_utc(eta.at):%H:%M} UTC (in {age(left)})"


def header_text(
    snapshot: NightSnapshot | None,
    now: dt.datetime,
    palette: Palette,
    where: str = "",
    eta: Eta | None = None,
) -> Text:
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
    if eta is not None and eta.at is not None and not eta.done:
        text.append(f"  {eta_text(eta, now)}", style=Style(bold=True))
    elif eta is not None:
        text.append(f"  {eta_text(eta, now)}")
    if snapshot.hold:
        # the autopilot keeps off this night: whoever opens the console must see it at once
        text.append("  ")
        text.append(" HELD ", style=palette.failed_badge)
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
        self,
        snapshot: NightSnapshot | None,
        now: dt.datetime,
        palette: Palette,
        where: str = "",
        eta: Eta | None = None,
    ) -> None:
        self.show_text(header_text(snapshot, now, palette, where, eta))
        basis = f"End of the night: {eta_text(eta, now)}. Basis: {eta.basis}" if eta is not None else None
        if snapshot is not None and snapshot.hold:
            held = f"The autopilot keeps off this night: {snapshot.hold} (`osa-core release` ends it)."
            basis = f"{held}\n{basis}" if basis else held
        if basis != self.tooltip:
            self.tooltip = basis
