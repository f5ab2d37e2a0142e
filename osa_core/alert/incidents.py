"""The night's incidents and the messages owed about them, kept in the ledger (schema 5).

An incident is open while a condition with its key is seen; at most one incident per key is
open (a partial unique index). When it opens, one *delivery* is owed to each target (a
configured URL); when it clears, a "resolved" delivery is owed to each target that heard of the
opening, and one whose opening never went out (the server was down all along) is owed one
message saying both. A delivery stays owed until it is sent, so a message that failed is
retried by the next call, and a message that went is never sent again.

A sender *claims* the messages it is about to send (who, when) in the ledger first, so that two
processes never send the same one; a claim whose process died (same host, its pid gone) or that
is older than :data:`CLAIM_TTL` is taken over. A process killed between sending a message and
recording it leaves it claimed: the message is sent again, with a note that it may arrive
twice. That is the choice between a duplicate and a lost alert, and a lost alert is worse.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from osa_core.model.conditions import Condition, ConditionKind
from osa_core.track.ledger import Ledger

OPENED = "opened"
RESOLVED = "resolved"
TRANSIENT = "transient"
"""Opened and cleared before its opening could be sent: one message says both."""

CLAIM_TTL = dt.timedelta(minutes=10)
"""A claim older than this is taken over even if its process seems alive (another host's)."""

_COLUMNS = "id, key, kind, subject, summary, advice, opened_at, last_seen, resolved_at"


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident as the ledger keeps it."""

    id: int
    key: str
    kind: str
    """A :class:`ConditionKind` value (kept as text: a newer program may know more kinds)."""
    subject: str
    summary: str
    """The latest summary seen (the count of failed subruns may grow while it stays open)."""
    advice: str
    opened_at: dt.datetime
    last_seen: dt.datetime
    resolved_at: dt.datetime | None

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "subject": self.subject,
            "summary": self.summary,
            "advice": self.advice,
            "opened_at": self.opened_at.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message owed to one target about one incident."""

    incident: Incident
    phase: str
    """:data:`OPENED`, :data:`RESOLVED` or :data:`TRANSIENT`."""
    target: str
    tries: int
    cut_off: bool = False
    """A sender claimed it and died before recording the outcome: it may have gone already."""


@dataclass(frozen=True, slots=True)
class Change:
    """What one fold of the conditions did to the ledger's incidents."""

    opened: list[Incident]
    resolved: list[Incident]
    still_open: list[Incident]


def fold(
    ledger: Ledger,
    conditions: Iterable[Condition],
    now: dt.datetime,
    targets: Sequence[str],
    scope: Collection[ConditionKind] | None = None,
) -> Change:
    """Open, refresh and resolve incidents from the conditions seen now, in one transaction.

    An open incident whose key is not among ``conditions`` clears, if its kind is in ``scope``
    (None: every kind, the conditions being the whole look at the night).
    """
    seen: dict[str, Condition] = {}
    for condition in conditions:
        seen.setdefault(condition.key, condition)
    kinds = None if scope is None else {ConditionKind(k).value for k in scope}
    at = now.isoformat()
    opened: list[int] = []
    resolved: list[int] = []
    kept: list[int] = []
    with ledger.transaction() as db:
        rows = db.execute("SELECT id, key FROM incidents WHERE resolved_at IS NULL")
        open_rows: dict[str, int] = {row[1]: row[0] for row in rows}
        for key, condition in seen.items():
            if key in open_rows:
                db.execute(
                    "UPDATE incidents SET summary = ?, advice = ?, last_seen = ? WHERE id = ?",
                    (condition.summary, condition.advice, at, open_rows[key]),
                )
                kept.append(open_rows[key])
                continue
            cursor = db.execute(
                "INSERT INTO incidents (key, kind, subject, summary, advice, opened_at, last_seen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, condition.kind.value, condition.subject, condition.summary, condition.advice, at, at),
            )
            incident = int(cursor.lastrowid or 0)
            opened.append(incident)
            db.executemany(
                "INSERT INTO alert_deliveries (incident, phase, target) VALUES (?, ?, ?)",
                [(incident, OPENED, target) for target in targets],
            )
        for key, incident in open_rows.items():
            if key in seen:
                continue
            if kinds is not None and key.partition(":")[0] not in kinds:
                kept.append(incident)  # another look at the night answers for this kind
                continue
            db.execute("UPDATE incidents SET resolved_at = ? WHERE id = ?", (at, incident))
            resolved.append(incident)
            # The opening went out: "resolved" follows. It did not: one message says both.
            db.execute(
                "INSERT INTO alert_deliveries (incident, phase, target) SELECT incident, ?, target"
                " FROM alert_deliveries WHERE incident = ? AND phase = ? AND sent_at IS NOT NULL",
                (RESOLVED, incident, OPENED),
            )
            db.execute(
                "UPDATE alert_deliveries SET phase = ? WHERE incident = ? AND phase = ? AND sent_at IS NULL",
                (TRANSIENT, incident, OPENED),
            )
        by_id = _by_id(db, [*opened, *resolved, *kept])
    return Change(
        opened=[by_id[i] for i in opened],
        resolved=[by_id[i] for i in resolved],
        still_open=sorted((by_id[i] for i in kept), key=lambda i: i.id),
    )


def claimant() -> str:
    """Who claims messages in this process: host and pid (a pid is only checked on its own host)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(ledger: Ledger, targets: Sequence[str], by: str, wall: dt.datetime) -> list[Delivery]:
    """Claim the messages owed to the configured targets, oldest incident first.

    ``wall`` is the real time (claims are about processes, not about the night's clock). A
    message claimed by another live process is left to it.
    """
    if not targets:
        return []
    marks = ",".join("?" * len(targets))
    with ledger.transaction() as db:
        rows = db.execute(
            f"SELECT incident, phase, target, tries, claimed_by, claimed_at FROM alert_deliveries"
            f" WHERE sent_at IS NULL AND target IN ({marks})",
            tuple(targets),
        ).fetchall()
        mine = [r for r in rows if r[4] is None or r[4] == by or _stale(r[4], r[5], wall)]
        db.executemany(
            "UPDATE alert_deliveries SET claimed_by = ?, claimed_at = ?"
            " WHERE incident = ? AND phase = ? AND target = ?",
            [(by, wall.isoformat(), r[0], r[1], r[2]) for r in mine],
        )
        by_id = _by_id(db, [r[0] for r in mine])
    order = {OPENED: 0, TRANSIENT: 1, RESOLVED: 2}
    mine.sort(key=lambda r: (r[0], order.get(r[1], 3), r[2]))
    return [Delivery(by_id[r[0]], r[1], r[2], r[3], cut_off=r[4] not in (None, by)) for r in mine]


def _stale(by: str, at: str | None, wall: dt.datetime) -> bool:
    """A claim whose process is gone, or too old to trust."""
    if at is None or wall - dt.datetime.fromisoformat(at) > CLAIM_TTL:
        return True
    host, _, pid = by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def mark(ledger: Ledger, delivery: Delivery, now: dt.datetime, error: str | None) -> None:
    """Record one try: sent (``error`` None), or failed with what the notifier said."""
    with ledger.transaction() as db:
        db.execute(
            "UPDATE alert_deliveries SET tries = tries + 1, sent_at = ?, last_error = ?,"
            " claimed_by = NULL, claimed_at = NULL WHERE incident = ? AND phase = ? AND target = ?",
            (
                now.isoformat() if error is None else None,
                error or "",
                delivery.incident.id,
                delivery.phase,
                delivery.target,
            ),
        )


def release(ledger: Ledger, deliveries: Iterable[Delivery], by: str) -> None:
    """Give up claims without trying (a target already failed in this call): no "may arrive twice"
    note for messages that were never tried."""
    with ledger.transaction() as db:
        db.executemany(
            "UPDATE alert_deliveries SET claimed_by = NULL, claimed_at = NULL"
            " WHERE incident = ? AND phase = ? AND target = ? AND claimed_by = ?",
            [(d.incident.id, d.phase, d.target, by) for d in deliveries],
        )


def listing(ledger: Ledger, resolved_since: dt.datetime) -> list[Incident]:
    """Open incidents, and those resolved since ``resolved_since``, oldest first."""
    with ledger.transaction() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM incidents WHERE resolved_at IS NULL OR resolved_at >= ? ORDER BY id",
            (resolved_since.isoformat(),),
        ).fetchall()
    return [_incident(r) for r in rows]


def unsent(ledger: Ledger) -> dict[int, int]:
    """Per incident, how many of its messages are still owed (to any target, configured or not)."""
    with ledger.transaction() as db:
        rows = db.execute(
            "SELECT incident, COUNT(*) FROM alert_deliveries WHERE sent_at IS NULL GROUP BY incident"
        ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def _by_id(db: Any, ids: Iterable[int]) -> dict[int, Incident]:
    wanted = sorted(set(ids))
    out: dict[int, Incident] = {}
    for start in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(f"SELECT {_COLUMNS} FROM incidents WHERE id IN ({marks})", chunk):
            out[row[0]] = _incident(row)
    return out


def _incident(row: Sequence[Any]) -> Incident:
    return Incident(
        id=row[0],
        key=row[1],
        kind=row[2],
        subject=row[3],
        summary=row[4],
        advice=row[5],
        opened_at=dt.datetime.fromisoformat(row[6]),
        last_seen=dt.datetime.fromisoformat(row[7]),
        resolved_at=dt.datetime.fromisoformat(row[8]) if row[8] else None,
    )
