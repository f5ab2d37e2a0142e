"""Autopilot passes: which nights a pass looks at, one pass over them, and ``--watch``'s loop.

Without a date a pass looks at tonight and at every unfinished night of the last
``autopilot.lookback_days`` (a night is finished once closed, and pushed where a web server is
configured). A night nobody started (no ledger) is looked at only when its night file exists,
so cron on a quiet day creates nothing. A finished night is judged from its ledger alone: no
engine, no scheduler query. Each night has its own engine, shut before the next one opens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable

from osa_core.alert.notifier import Notifier, notifier_from_config
from osa_core.autopilot.alerting import alert
from osa_core.autopilot.decide import night_pass
from osa_core.autopilot.pending import PendingBudget
from osa_core.autopilot.publishing import PUSHED_META
from osa_core.autopilot.report import NightReport, PassReport
from osa_core.engine import Engine
from osa_core.model.config import Config
from osa_core.model.errors import OsaError, storage_error
from osa_core.model.layout import NightLayout
from osa_core.model.night_clock import current_night
from osa_core.scheduler.base import utcnow
from osa_core.track.ledger import Ledger


def nights_to_look_at(config: Config, now: dt.datetime) -> list[dt.date]:
    """Tonight and the unfinished nights before it, oldest first."""
    tonight = current_night(now, config.night.day_boundary_hour)
    days = range(config.autopilot.lookback_days, -1, -1)
    return [d for d in (tonight - dt.timedelta(days=n) for n in days) if unfinished(config, d)]


def unfinished(config: Config, date: dt.date) -> bool:
    """A night with work left: started and not yet closed and pushed, or its night file is there."""
    layout = NightLayout(config, date)
    if not layout.ledger_path.exists():
        return layout.night_summary.exists()
    try:
        ledger = Ledger(layout.ledger_path)
    except OsaError:
        return True  # damaged: the pass reports it, and a person rebuilds it
    try:
        closing = ledger.closing()
        if closing is None or closing.finished is None:
            return True
        return bool(config.webserver.host) and ledger.get_meta(PUSHED_META) != closing.finished.isoformat()
    finally:
        ledger.close()


async def one_pass(
    config: Config, dates: Iterable[dt.date], dry_run: bool, notifier: Notifier | None = None
) -> PassReport:
    """One pass over ``dates``; a dry run reconciles no alerts (it sends nothing)."""
    report = PassReport(utcnow().replace(microsecond=0), dry_run)
    dates = list(dates)
    newest = max(dates, default=None)
    notifier = notifier or notifier_from_config(config.alerts)
    budget = PendingBudget(config.autopilot.max_pending_tasks)  # one count for every night
    for date in dates:
        if NightLayout(config, date).ledger_path.exists() and not unfinished(config, date):
            # closed (and pushed): judged from its ledger alone, no engine, no scheduler query
            report.nights.append(NightReport(date, notes=["closed and published: nothing left to do"]))
            continue
        try:
            engine = Engine(config, date)
        except (OsaError, OSError) as exc:  # a damaged ledger: this night waits, the others go on
            error = (
                exc if isinstance(exc, OsaError) else storage_error(exc, NightLayout(config, date).state_dir)
            )
            report.nights.append(NightReport(date, error=str(error), exit_code=error.exit_code))
            continue
        try:
            night = await night_pass(engine, utcnow(), dry_run, budget)
            report.nights.append(night)
            if not dry_run:
                alert(config, engine.ledger, night, notifier, utcnow(), with_disk=date == newest)
        finally:
            engine.shutdown()
    return report


async def watch(
    config: Config,
    dates: Callable[[], list[dt.date]],
    dry_run: bool,
    show: Callable[[PassReport], None],
    count: int = 0,
) -> PassReport:
    """Passes until interrupted (or ``count`` of them): soon again after a pass that acted, then
    half as long again after each quiet one, up to ``watch_max_seconds``."""
    settings = config.autopilot
    interval = settings.watch_min_seconds
    rounds = 0
    notifier = notifier_from_config(config.alerts)  # one for the service's life: its plugins load once
    while True:
        report = await one_pass(config, dates(), dry_run, notifier)
        show(report)
        rounds += 1
        if count and rounds >= count:
            return report
        if report.acted:
            interval = settings.watch_min_seconds
        else:
            interval = min(settings.watch_max_seconds, interval * 1.5)
        await asyncio.sleep(interval)
