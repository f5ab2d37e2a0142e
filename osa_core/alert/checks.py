"""Conditions that are not the autopilot's own decisions: disk space low, a night left open too long.

Each check looks at the world as it is now and returns conditions for
:func:`osa_core.alert.reconcile.reconcile`; a check that cannot look (a path that cannot be
statted) reports nothing rather than an incident it cannot be sure of, and logs why.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.config import Config
from osa_core.track.ledger import Ledger

log = logging.getLogger("osa.alerts")

GIB = 1024**3


def _existing(path: Path) -> Path | None:
    """The path or its nearest existing parent: a work area not made yet lives on its parent's disk."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return None


def disk_conditions(directories: Sequence[Path], min_free_gib: float) -> list[Condition]:
    """One DISK_LOW condition per file system (named by the first directory on it) below the threshold."""
    if min_free_gib <= 0:
        return []
    out: list[Condition] = []
    seen: set[int] = set()
    for directory in directories:
        where = _existing(directory)
        try:
            if where is None:
                raise FileNotFoundError(f"no part of {directory} exists")
            device = os.stat(where).st_dev
            stats = os.statvfs(where)
        except OSError as exc:
            log.warning("disk space of %s not checked: %s", directory, exc)
            continue
        if device in seen:
            continue
        seen.add(device)
        free = stats.f_bavail * stats.f_frsize / GIB
        if free < min_free_gib:
            out.append(
                Condition(
                    ConditionKind.DISK_LOW,
                    subject=str(directory),
                    summary=f"disk space low: {free:.1f} GiB free for {directory} "
                    f"(alerts.min_free_gib = {min_free_gib:g})",
                    advice="Free space on that file system (old nights' subrun products, logs) before "
                    "the night's jobs or its closing fail for lack of it.",
                )
            )
    return out


def close_deadline(night: dt.date, close_by_hour: int) -> dt.datetime:
    """When the night should be closed: ``close_by_hour`` UTC of the day after its date."""
    return dt.datetime.combine(night + dt.timedelta(days=1), dt.time(close_by_hour), tzinfo=dt.UTC)


def not_closed_condition(
    ledger: Ledger, night: dt.date, close_by_hour: int, now: dt.datetime
) -> Condition | None:
    """NOT_CLOSED once the deadline passed for a night that has sequences and no finished closing."""
    deadline = close_deadline(night, close_by_hour)
    if now < deadline or not ledger.sequences():
        return None
    closing = ledger.closing()
    if closing is not None and closing.finished is not None:
        return None
    state = f" (closing: {closing.status})" if closing is not None and closing.status else ""
    return Condition(
        ConditionKind.NOT_CLOSED,
        subject="night",
        summary=f"night {night.isoformat()} not closed by {deadline:%Y-%m-%d %H:%M} UTC{state}",
        advice=f"See what keeps it open with `osa-core status --date {night.isoformat()}`, then "
        f"`osa-core close --date {night.isoformat()}` (`--force` to close without failed subruns).",
    )


def night_checks(config: Config, night: dt.date, ledger: Ledger, now: dt.datetime) -> list[Condition]:
    """Every check of this module for one night, as configured in ``[alerts]``."""
    out = disk_conditions([config.paths.analysis, config.paths.final], config.alerts.min_free_gib)
    late = not_closed_condition(ledger, night, config.alerts.close_by_hour, now)
    if late is not None:
        out.append(late)
    return out


CHECKED_KINDS = frozenset({ConditionKind.DISK_LOW, ConditionKind.NOT_CLOSED})
"""The kinds :func:`night_checks` answers for (a ``scope`` for reconciling its conditions alone)."""
