"""A person's hold on a night: while it stands, the autopilot keeps its hands off that night.

``osa-core hold`` writes it into the ledger's ``meta`` table (so every process that opens the
night sees it, and it survives restarts); ``osa-core release`` clears it. The snapshot carries it
in words, so ``status`` and the console show who holds the night and why.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from dataclasses import dataclass

from osa_core.track.ledger import Ledger

HOLD_META = "hold"


@dataclass(frozen=True, slots=True)
class Hold:
    by: str
    at: dt.datetime
    reason: str

    def describe(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return f"held by {self.by} since {self.at:%Y-%m-%d %H:%M} UTC{why}"


def read_hold(ledger: Ledger) -> Hold | None:
    """The night's hold, or None; a value this program cannot read still holds the night."""
    raw = ledger.get_meta(HOLD_META)
    return parse_hold(raw) if raw else None


def parse_hold(raw: str) -> Hold:
    """The hold as the meta table keeps it (JSON); read-only readers of a ledger use this too."""
    try:
        data = json.loads(raw)
        return Hold(str(data["by"]), dt.datetime.fromisoformat(data["at"]), str(data.get("reason", "")))
    except (ValueError, KeyError, TypeError):
        # a person meant to hold it: unreadable is still held, never released by accident
        return Hold("unknown", dt.datetime.fromtimestamp(0, dt.UTC), raw[:200])


def hold_words(ledger: Ledger) -> str | None:
    """The hold in words for the snapshot (``status``, the console), or None."""
    hold = read_hold(ledger)
    return hold.describe() if hold is not None else None


def set_hold(ledger: Ledger, reason: str, now: dt.datetime) -> Hold:
    hold = Hold(_who(), now.replace(microsecond=0), " ".join(reason.split()))
    value = {"by": hold.by, "at": hold.at.isoformat(), "reason": hold.reason}
    ledger.set_meta(HOLD_META, json.dumps(value))
    ledger.log_event("hold", hold.describe())
    return hold


def release_hold(ledger: Ledger) -> Hold | None:
    """Clear the hold; the one released (None: there was none, and nothing is written)."""
    hold = read_hold(ledger)
    if hold is not None:
        ledger.set_meta(HOLD_META, "")
        ledger.log_event("release", f"released by {_who()} ({hold.describe()})")
    return hold


def _who() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = str(os.getuid())
    return f"{user}@{os.uname().nodename}"
