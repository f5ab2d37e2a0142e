"""The night's activity: what the autopilot decided and why, what people did, alerts opened and resolved.

Newest first, from each snapshot (the engine reads the ledger's last events into it), so it stays
live while open: a decision of the autopilot running from cron appears at the next refresh.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from osa_console.screens.table_screen import TableScreen
from osa_core.model.snapshot import NightEvent, NightSnapshot, SubrunKey

COLUMNS = (("time (UTC)", "time"), ("kind", "kind"), ("by", "user"), ("what and why", "message"))
KIND_STYLE = {"alert": "bold red", "autopilot": "bold", "hold": "bold yellow", "release": "bold yellow"}


def event_cells(event: NightEvent) -> tuple[Text, ...]:
    try:
        when = dt.datetime.fromisoformat(event.time).strftime("%m-%d %H:%M:%S")
    except ValueError:
        when = event.time
    return (
        Text(when),
        Text(event.kind, style=KIND_STYLE.get(event.kind, "")),
        Text(event.user or "-"),
        Text(event.message),
    )


class ActivityScreen(TableScreen):
    LINE_ID = "activity-line"
    TABLE_ID = "events"
    COLUMNS = COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]
    KEY_HELP: ClassVar[dict[str, str]] = {"back": "back to where you were"}

    def __init__(self) -> None:
        super().__init__()
        self.where = "activity"

    def apply(
        self, snapshot: NightSnapshot, changed: frozenset[SubrunKey], now: dt.datetime, force: bool
    ) -> None:
        # keyed by what it says (an event never changes: the cursor stays on its row as rows
        # arrive), numbered when the same thing was done twice in one second
        seen: dict[str, int] = {}
        rows = []
        for event in snapshot.events:
            key = f"{event.time}|{event.kind}|{event.message}"
            seen[key] = seen.get(key, 0) + 1
            rows.append((f"{key}|{seen[key]}", event_cells(event)))
        self.table.rebuild(rows)
        held = f" · {snapshot.hold}" if snapshot.hold else ""
        alerts = f" · {snapshot.alerts} alert(s) open (osa-core alerts)" if snapshot.alerts else ""
        count = f" last {len(snapshot.events)} events" if snapshot.events else " no events yet"
        self.line.show_text(Text(count + held + alerts, style="bold"))
