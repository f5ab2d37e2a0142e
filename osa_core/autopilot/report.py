"""What one autopilot pass did and saw, per night: its decisions, its notes and its conditions.

The pass prints it (one line each) and ``--json`` writes it as one object; the alerts room reads
``conditions``. A *decision* is something the pass did (or, with ``--dry-run``, would do), and
is also an event in the night's ledger; a *note* is why it did not act (waiting for raw files,
too early to close) and is written nowhere, so a pass that changes nothing writes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from osa_core.model.conditions import Condition


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str
    """``submit``, ``resubmit``, ``close``, ``push``, ``page``."""
    message: str
    """What and why, as the event says it: ``resubmitted 3 subruns of run 01875: OUT_OF_MEMORY, ...``."""


@dataclass(slots=True)
class NightReport:
    date: dt.date
    decisions: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    skipped: str | None = None
    """Why the night was left alone this pass (a hold, a person holding its lock), else None."""
    error: str | None = None
    """An error that stopped the pass on this night (one line); the other nights went on."""
    exit_code: int = 0

    @property
    def whole(self) -> bool:
        """The pass looked at the whole night: its ``conditions`` are all there is. A skipped or
        failed pass saw only part of it, and an incident it does not list has not cleared."""
        return self.skipped is None and self.error is None

    def lines(self, dry_run: bool) -> list[str]:
        out = [f"night {self.date.isoformat()}:"]
        if self.skipped:
            out.append(f"  skipped: {self.skipped}")
        if self.error:
            out.append(f"  error: {self.error}")
        verb = "would " if dry_run else ""
        out += [f"  {verb}{d.kind}: {d.message}" for d in self.decisions]
        out += [f"  {note}" for note in self.notes]
        out += [f"  condition {c.kind.value}: {c.summary}" for c in self.conditions]
        if len(out) == 1:
            out.append("  nothing to do")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "skipped": self.skipped,
            "error": self.error,
            "whole": self.whole,
            "decisions": [{"kind": d.kind, "message": d.message} for d in self.decisions],
            "notes": list(self.notes),
            "conditions": [
                {
                    "key": c.key,
                    "kind": c.kind.value,
                    "subject": c.subject,
                    "summary": c.summary,
                    "advice": c.advice,
                }
                for c in self.conditions
            ],
        }


@dataclass(slots=True)
class PassReport:
    started: dt.datetime
    dry_run: bool
    nights: list[NightReport] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        return any(n.decisions for n in self.nights)

    @property
    def exit_code(self) -> int:
        """The first error's exit code (docs/cli.md), else 0: conditions are the alerts' business."""
        return next((n.exit_code for n in self.nights if n.exit_code), 0)

    def lines(self) -> list[str]:
        head = f"autopilot pass at {self.started:%Y-%m-%d %H:%M:%S} UTC" + (
            " (dry run)" if self.dry_run else ""
        )
        out = [head]
        for night in self.nights:
            out += night.lines(self.dry_run)
        if not self.nights:
            out.append("  no night to look at")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(),
            "dry_run": self.dry_run,
            "nights": [n.to_json() for n in self.nights],
            "conditions": [c.key for n in self.nights for c in n.conditions],
        }
