"""What people and the autopilot did to a night, and what is open: the snapshot's notes from its ledger.

Each snapshot carries a person's hold, the last events (the autopilot's decisions with their
reasons, every action, each alert opened or resolved, with the user who did it) and the count
of open incidents, so that every front end shows them without reading the ledger itself. Two
small indexed queries per snapshot.
"""

from __future__ import annotations

from typing import TypedDict

from osa_core.model.snapshot import NightEvent
from osa_core.track.hold import hold_words
from osa_core.track.ledger import Ledger

RECENT = 50
"""Events a snapshot carries (``osa-core events`` lists them all)."""


class Notes(TypedDict):
    hold: str | None
    events: tuple[NightEvent, ...]
    alerts: int


def notes(ledger: Ledger) -> Notes:
    """The hold, the last :data:`RECENT` events (newest first), the open incidents."""
    events = tuple(NightEvent(*row) for row in ledger.recent_events(RECENT))
    return Notes(hold=hold_words(ledger), events=events, alerts=ledger.open_incidents())
