"""When the autopilot closes a night, and how it carries a closing on from pass to pass.

A night is closed when every sequence has finished, data taking is over (the night file has not
changed for ``quiet_minutes``) and it is past ``close_after_hour`` (UTC) of the next morning.
Subruns failed for good (past the retry cap, or not worth retrying) or cancelled by a person keep
it open for a person, unless ``close_incomplete``: then their runs are excluded, as
``close --force`` does, and the decision says which. The closing itself is the engine's: merges
run as jobs, and each later pass advances it one round.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Awaitable

from osa_core.autopilot.acting import act, probe_lock
from osa_core.autopilot.diskroom import room_for
from osa_core.autopilot.policy import Verdict
from osa_core.autopilot.report import Decision, NightReport
from osa_core.close.closer import close_phase
from osa_core.engine import Engine
from osa_core.model.actions import ActionReport
from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.errors import LockBusy, OsaError
from osa_core.model.snapshot import NightSnapshot


def closing_time(date: dt.date, hour: int) -> dt.datetime:
    """The earliest moment the night of ``date`` may be closed: ``hour`` UTC the morning after."""
    return dt.datetime.combine(date + dt.timedelta(days=1), dt.time(hour), tzinfo=dt.UTC)


async def consider_closing(
    engine: Engine,
    snapshot: NightSnapshot,
    verdict: Verdict,
    report: NightReport,
    now: dt.datetime,
    dry_run: bool,
) -> None:
    settings = engine.config.autopilot
    if not snapshot.sequences or not snapshot.finished:
        return
    earliest = closing_time(engine.date, settings.close_after_hour)
    if now < earliest:
        report.notes.append(f"not closing before {earliest:%Y-%m-%d %H:%M} UTC (close_after_hour)")
        return
    try:
        changed = dt.datetime.fromtimestamp(os.stat(engine.layout.night_summary).st_mtime, dt.UTC)
    except OSError:
        return  # reported as a condition by the night file's reading
    quiet = dt.timedelta(minutes=settings.quiet_minutes)
    if now - changed < quiet:
        report.notes.append(
            f"not closing: the night file changed at {changed:%H:%M:%S} UTC, less than "
            f"{settings.quiet_minutes:g} min ago (quiet_minutes)"
        )
        return
    incomplete = sorted(set(verdict.given_up) | set(verdict.cancelled))
    runs = ", ".join(f"{r:05d}" for r in incomplete)
    if incomplete and not settings.close_incomplete:
        report.notes.append(
            f"not closing: run(s) {runs} have failed or cancelled subruns left to a person "
            "(close_incomplete = false; `osa-core close --force` closes without them)"
        )
        return
    why = (
        f"every sequence finished, the night file quiet since {changed:%Y-%m-%d %H:%M} UTC, "
        f"past {earliest:%H:%M} UTC"
    )
    if incomplete:
        why += f"; run(s) {runs} excluded, their subruns failed for good (close_incomplete = true)"
    if not await room_for(engine, sum(snapshot.totals.values()), "closing the night", report):
        return
    force = bool(incomplete)
    message = f"closing the night: {why}"
    answer = await _guarded(
        report, act(engine, report, "close", message, dry_run, lambda: engine.close_night(force))
    )
    if answer is not None:
        _judge(engine, answer, report)


async def advance_closing(engine: Engine, forced: bool, report: NightReport, dry_run: bool) -> None:
    """One more round of a closing begun earlier (merges are jobs): no event until it ends."""
    if dry_run:
        report.notes.append("closing in progress: the next pass advances it")
        return
    await probe_lock(engine)
    answer = await _guarded(report, engine.close_night(forced))
    if answer is None:
        return
    phase, _ = close_phase(engine)
    if phase == "closed":
        report.decisions.append(Decision("close", answer.message))
    else:
        report.notes.append(f"closing: {answer.message}")
    _judge(engine, answer, report)


async def _guarded(report: NightReport, step: Awaitable[ActionReport | None]) -> ActionReport | None:
    """The closing's own failures are a condition for a person, not the end of the pass."""
    try:
        return await step
    except LockBusy:
        raise  # a person is acting on the night: the pass leaves it (decide.py)
    except OsaError as exc:
        report.conditions.append(_failed(str(exc)))
        return None


def _judge(engine: Engine, answer: ActionReport, report: NightReport) -> None:
    if not answer.ok:
        report.conditions.append(_failed(answer.message + "".join(f"; {d}" for d in answer.details[:5])))
        return
    _, failed = close_phase(engine)
    if failed:
        report.conditions.append(_failed(f"{failed} run(s) failed their merge or verification"))


def _failed(summary: str) -> Condition:
    return Condition(
        ConditionKind.CLOSING_FAILED,
        "night",
        f"closing the night failed: {summary}",
        "`osa-core close --dry-run` says what stops it; fix that and the next pass carries on.",
    )
