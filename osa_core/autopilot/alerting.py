"""From what a pass saw to the people who must hear of it: a night's conditions into its incidents.

After a pass has looked at the *whole* of a night (no hold, no lock held by a person, no error),
its conditions, with the alerts room's own checks (the night not closed by the configured hour;
the disk, looked at with the newest night only so that one full disk is one incident, not one
per night), are reconciled with the incidents already open in the night's ledger: a new one is
announced once, one no longer seen is resolved once (``osa_core.alert.reconcile``). A pass that
saw only part of the night reconciles nothing: silence is not a cleared incident.
Opening and resolving are events of the night, as the pass's decisions are.
"""

from __future__ import annotations

import datetime as dt

from osa_core.alert.checks import disk_conditions, not_closed_condition
from osa_core.alert.notifier import Notifier
from osa_core.alert.reconcile import reconcile
from osa_core.autopilot.report import NightReport
from osa_core.model.config import Config
from osa_core.model.errors import OsaError
from osa_core.track.ledger import Ledger


def alert(
    config: Config,
    ledger: Ledger,
    night: NightReport,
    notifier: Notifier,
    now: dt.datetime,
    *,
    with_disk: bool,
) -> None:
    """Reconcile ``night``'s conditions with its incidents; what changed goes into its notes."""
    if not night.whole:
        return
    conditions = list(night.conditions)
    if with_disk:
        conditions += disk_conditions([config.paths.analysis, config.paths.final], config.alerts.min_free_gib)
    late = not_closed_condition(ledger, night.date, config.alerts.close_by_hour, now)
    if late is not None:
        conditions.append(late)
    try:
        report = reconcile(ledger, night.date, conditions, notifier, now)
    except OsaError as exc:  # the ledger could not be written: the next pass tries again
        night.notes.append(f"alerts not reconciled: {exc}")
        return
    for incident in report.opened:
        ledger.log_event("alert", f"incident opened: {incident.summary}")
    for incident in report.resolved:
        ledger.log_event("alert", f"incident resolved: {incident.summary}")
    night.notes += report.lines
