"""The alerts' front door: fold what a look at the night found into its incidents, send what is owed.

``reconcile(ledger, night, conditions, notifier, now)`` is called once per pass and per night
(by the autopilot, with its conditions plus :func:`osa_core.alert.checks.night_checks`). However
often it is called with the same conditions, one message goes out per incident and target when
it opens and one when it clears. Sending happens after the ledger is written and outside its
transaction (a slow server must not hold the night's ledger), each message claimed in the
ledger first so that two callers never send the same one; a message that fails stays owed and
is tried again by the next call. A caller killed between sending a message and recording it
sends it again next time, marked as possibly a duplicate (``incidents.claim``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from osa_core.alert.incidents import Delivery, Incident, claim, claimant, fold, mark, release
from osa_core.alert.messages import message
from osa_core.alert.notifier import Notifier
from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.faults import kill_point
from osa_core.track.ledger import Ledger

log = logging.getLogger("osa.alerts")


@dataclass(frozen=True, slots=True)
class AlertReport:
    """What one call did: incidents opened, resolved and still open; messages sent and failed."""

    opened: list[Incident] = field(default_factory=list)
    resolved: list[Incident] = field(default_factory=list)
    still_open: list[Incident] = field(default_factory=list)
    sent: list[Delivery] = field(default_factory=list)
    failed: list[tuple[Delivery, str]] = field(default_factory=list)
    """Each message that could not be sent, with where to (``alerts.urls[N]``) and why; it is
    tried again by the next call."""

    @property
    def lines(self) -> list[str]:
        """One line per change, for the caller's log or events."""
        out = [f"incident opened: {i.summary}" for i in self.opened]
        out += [f"incident resolved: {i.summary}" for i in self.resolved]
        out += [f"alert not sent ({d.phase} {d.incident.key}) to {why}" for d, why in self.failed]
        return out


def reconcile(
    ledger: Ledger,
    night: dt.date,
    conditions: Iterable[Condition],
    notifier: Notifier,
    now: dt.datetime,
    scope: Collection[ConditionKind] | None = None,
) -> AlertReport:
    """Bring the night's incidents in line with ``conditions`` and send every message owed.

    ``conditions`` is everything wrong with the night as seen now (for the kinds in ``scope``;
    None: all kinds). ``now`` is timezone-aware UTC. Ledger errors are the caller's; the
    notifier's never stop it: they are logged, returned in the report and retried next call.
    """
    targets = list(notifier.targets)
    change = fold(ledger, conditions, now, targets, scope)
    sent: list[Delivery] = []
    failed: list[tuple[Delivery, str]] = []
    down: dict[str, str] = {}
    skipped: list[Delivery] = []
    me = claimant()
    for delivery in claim(ledger, targets, me, dt.datetime.now(dt.UTC)):
        if delivery.target in down:
            # One failure per target and call: a server that hangs costs one timeout, not one each.
            failed.append((delivery, down[delivery.target]))
            skipped.append(delivery)
            continue
        text = message(delivery.incident, delivery.phase, night, again=delivery.cut_off)
        kill_point("alert-claimed")
        try:
            error = notifier.send(delivery.target, text.title, text.body)
        except Exception as exc:  # the Protocol says never; a notifier of someone else's may
            error = f"{type(exc).__name__}: {exc}"
        kill_point("alert-sent")
        mark(ledger, delivery, now, error)
        if error is None:
            sent.append(delivery)
        else:
            why = f"{notifier.label(delivery.target)}: {error}"
            down[delivery.target] = why
            failed.append((delivery, why))
            log.warning(
                "night %s: alert about %s not sent (try %d, retried next pass) to %s",
                night.isoformat(),
                delivery.incident.key,
                delivery.tries + 1,
                why,
            )
    if skipped:
        release(ledger, skipped, me)
    return AlertReport(change.opened, change.resolved, change.still_open, sent, failed)
