"""One autopilot pass over one night: what it needs next, done through the engine's own actions.

In order: a person's hold leaves the night alone; the night file is read and the runs whose raw
files are all there are submitted; the night is refreshed (one scheduler query at most); failures
worth it are resubmitted; the night is closed when it is over; the datacheck is pushed (the
night page during the night). Each action is an event in the ledger saying why; a pass that
finds nothing to do writes nothing. Every action takes the night's lock as a person's command
does, waiting at most ``autopilot.lock_wait``: a person holding it wins, and the night waits for
the next pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from functools import partial

from osa_core.autopilot.acting import act
from osa_core.autopilot.closing import advance_closing, consider_closing
from osa_core.autopilot.diskroom import room_for
from osa_core.autopilot.pending import PendingBudget, tasks_of
from osa_core.autopilot.policy import Retry, Verdict, judge
from osa_core.autopilot.publishing import publish
from osa_core.autopilot.report import NightReport
from osa_core.autopilot.watchdog import check_raw, run_ends
from osa_core.engine import Engine
from osa_core.model.actions import Selection
from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.errors import LockBusy, OsaError, storage_error
from osa_core.model.records import Plan, Sequence
from osa_core.model.snapshot import NightSnapshot
from osa_core.pipeline.stages import unbuildable_runs
from osa_core.plan.nightfile import read_night_file
from osa_core.track.hold import read_hold
from osa_core.track.ledger import SubmissionRow

SILENT_META = "autopilot.scheduler_silent_since"


async def night_pass(
    engine: Engine, now: dt.datetime, dry_run: bool, budget: PendingBudget | None = None
) -> NightReport:
    """Look at the night once and do what it needs; never raises for the night's own trouble.

    ``budget``: the pass's room in the queue, shared by its nights (one of its own by default).
    """
    report = NightReport(engine.date)
    budget = budget or PendingBudget(engine.config.autopilot.max_pending_tasks)
    try:
        await _pass(engine, report, now, dry_run, budget)
    except LockBusy as exc:
        report.skipped = f"a person holds the night's lock, left for the next pass ({exc.message})"
    except OsaError as exc:
        report.error, report.exit_code = str(exc), exc.exit_code
    except OSError as exc:  # a disk that refuses: this night's error, the other nights go on
        error = storage_error(exc, engine.layout.analysis_dir)
        report.error, report.exit_code = str(error), error.exit_code
    return report


async def _pass(
    engine: Engine, report: NightReport, now: dt.datetime, dry_run: bool, budget: PendingBudget
) -> None:
    hold = read_hold(engine.ledger)
    if hold is not None:
        report.skipped = hold.describe()
        return
    closing = engine.ledger.closing()
    waiting = False
    if closing is None:
        waiting = await _submit_new(engine, report, now, dry_run, budget)
        if report.skipped:
            return
    snapshot = await engine.refresh()
    verdict = judge(snapshot, engine.config.autopilot) if closing is None else None
    if verdict is not None:
        # seen on the last known states even when the scheduler is silent: an incident does not
        # look resolved to the alerts because one pass could not ask
        report.conditions += verdict.conditions
    if not _scheduler_answers(engine, snapshot, report, now, dry_run):
        return
    if verdict is not None:
        retried = await _retry(engine, verdict, report, dry_run, budget)
        if report.skipped:
            return
        if not retried and not waiting:
            await consider_closing(engine, snapshot, verdict, report, now, dry_run)
    elif closing is not None and closing.finished is None:
        await advance_closing(engine, closing.forced, report, dry_run)
    if not report.skipped:
        await publish(engine, report, now, dry_run)


async def _submit_new(
    engine: Engine, report: NightReport, now: dt.datetime, dry_run: bool, budget: PendingBudget
) -> bool:
    """Submit the runs whose raw files are all there; True while some run still waits for its files."""
    path = engine.layout.night_summary
    try:
        plan = await asyncio.to_thread(engine.plan)
        night = await asyncio.to_thread(read_night_file, path)
        changed = dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC)
    except (OsaError, OSError) as exc:
        if engine.ledger.earliest_submission() is None and not path.exists():
            report.notes.append(f"no night file yet ({path})")
        else:
            report.conditions.append(
                Condition(
                    ConditionKind.NIGHT_FILE_UNREADABLE,
                    "night",
                    f"the night file cannot be read: {exc}",
                    "Fix or restore the file; the runs already submitted go on meanwhile.",
                )
            )
        return True
    known = {s.run: s for s in engine.state.sequences}
    todo = [s for s in plan.sequences if not _submitted(engine, known.get(s.run))]
    if not todo:
        return False
    grace = dt.timedelta(minutes=engine.config.autopilot.raw_grace_minutes)
    raw = check_raw(engine.layout, todo, run_ends(night.runs, changed), now, grace)
    by_seq = {s.seq: s for s in plan.sequences}
    go: list[Sequence] = []
    for sequence in todo:  # calibrations come first in a plan: a parent is decided before its data
        parent = by_seq.get(sequence.parent) if sequence.parent is not None else None
        parent_ok = parent is None or parent in go or _submitted(engine, known.get(parent.run))
        if sequence.seq in raw.ready and parent_ok:
            go.append(sequence)
        elif sequence.seq in raw.ready:
            report.notes.append(f"run {sequence.run:05d}: waiting for its calibration run's raw files")
    report.notes += [w.line() for w in raw.waiting]
    report.conditions += raw.conditions
    go = await _buildable(engine, plan, go, report)
    go = await _fit(engine, go, budget, report)
    named = ", ".join(f"{s.run:05d}" for s in go)
    if go and not await room_for(engine, sum(tasks_of(s) for s in go), f"submitting run(s) {named}", report):
        go = []  # the disk guard said why (a note and a disk_low condition)
    budget.spend(sum(tasks_of(s) for s in go))
    if go:
        what = ", ".join(
            f"{s.run:05d} (calibration)" if s.is_calibration else f"{s.run:05d} ({s.subruns} subruns)"
            for s in go
        )
        message = f"submitted run(s) {what}: their raw files are all on disk"
        runs = frozenset(s.run for s in go)
        await act(engine, report, "submit", message, dry_run, lambda: engine.submit(runs))
    # a dry run submitted nothing: the night is not complete, whatever the snapshot says
    return len(go) < len(todo) or (dry_run and bool(go))


async def _buildable(engine: Engine, plan: Plan, go: list[Sequence], report: NightReport) -> list[Sequence]:
    """The runs of ``go`` the engine would accept: one run that cannot be built as configured (no
    calibration, no pointing for its models) is a condition and waits, the others go on. A
    person's ``submit`` refuses the whole night instead (they are there to fix it)."""
    data = frozenset(s.run for s in go if not s.is_calibration)
    if not data:
        return go
    refused = await asyncio.to_thread(unbuildable_runs, engine.profile, engine.layout, plan, data)
    for run, why in sorted(refused.items()):
        report.conditions.append(
            Condition(
                ConditionKind.RUN_UNBUILDABLE,
                f"run={run}",
                why,
                "Fix the configuration or catalogue the message names; the run is submitted by the "
                "first pass after the fix, the other runs go on meanwhile.",
            )
        )
    return [s for s in go if s.run not in refused]


async def _fit(
    engine: Engine, go: list[Sequence], budget: PendingBudget, report: NightReport
) -> list[Sequence]:
    """The runs of ``go`` that fit under ``max_pending_tasks``, in order: the first that does not
    fit waits, and every run after it (a later run never overtakes an earlier one)."""
    if not go:
        return go
    room = await budget.room(engine)
    if room is None:
        return go
    fits = 0
    while fits < len(go) and tasks_of(go[fits]) <= room:
        room -= tasks_of(go[fits])
        fits += 1
    if fits < len(go):
        runs = ", ".join(f"{s.run:05d}" for s in go[fits:])
        ahead = sum(tasks_of(s) for s in go[:fits])
        report.notes.append(f"{budget.waiting(ahead)}: run(s) {runs} wait for room in the queue")
    return go[:fits]


def _submitted(engine: Engine, sequence: Sequence | None) -> bool:
    """Every subrun of the ledger's sequence has been submitted at least once."""
    if sequence is None:
        return False
    return all(engine.state.latest(key) is not None for key in engine.state.keys(sequence.seq))


def _scheduler_answers(
    engine: Engine, snapshot: NightSnapshot, report: NightReport, now: dt.datetime, dry_run: bool
) -> bool:
    """False when the scheduler did not answer (nothing more is decided this pass); a silence
    longer than ``scheduler_silent_minutes``, counted across passes in the ledger, is a condition."""
    since_text = engine.ledger.get_meta(SILENT_META) or ""
    if snapshot.health.ok:
        if since_text and not dry_run:
            engine.ledger.set_meta(SILENT_META, "")
        return True
    since = dt.datetime.fromisoformat(since_text) if since_text else now
    if not since_text and not dry_run:
        engine.ledger.set_meta(SILENT_META, now.isoformat(timespec="seconds"))
    report.notes.append(f"the scheduler did not answer: {snapshot.health.error}; nothing else decided")
    limit = dt.timedelta(minutes=engine.config.autopilot.scheduler_silent_minutes)
    if now - since >= limit:
        report.conditions.append(
            Condition(
                ConditionKind.SCHEDULER_SILENT,
                "scheduler",
                f"the scheduler has not answered since {since:%Y-%m-%d %H:%M} UTC: {snapshot.health.error}",
                "Check slurmctld (`scontrol ping`, `sinfo`); nothing is lost, the night carries on "
                "once it answers.",
            )
        )
    return False


async def _retry(
    engine: Engine, verdict: Verdict, report: NightReport, dry_run: bool, budget: PendingBudget
) -> bool:
    """Resubmit what the retry rules chose; True when anything was (or would be) resubmitted, or
    waits for room in the queue (the night is not closed meanwhile)."""
    acted = False
    if not verdict.retries:
        return False
    jobs = {s.job_id: s for s in engine.ledger.submissions() if s.job_id}
    for retry in verdict.retries:
        selection = Selection(keys=frozenset(retry.keys), failed_only=True, force=True)
        preview = engine.preview_resubmit(selection)
        if not preview.submissions:
            continue
        room = await budget.room(engine)
        if room is not None and len(retry.keys) > room:
            report.notes.append(f"{budget.waiting()}: the retry of run {retry.run:05d} waits for room")
            acted = True  # not closing while a retry waits
            continue
        if not await room_for(engine, len(retry.keys), f"retrying run {retry.run:05d}", report):
            acted = True  # not closing while a retry waits for room; the others wait too
            break
        budget.spend(len(retry.keys))
        planned = preview.submissions[0]
        message = _retry_message(engine, retry, planned.memory, planned.walltime, jobs)
        acted = True
        answer = await act(engine, report, "resubmit", message, dry_run, partial(engine.resubmit, selection))
        if report.skipped:
            break
        if answer is not None and not answer.ok:
            report.notes.append(f"run {retry.run:05d}: {answer.message}")
    return acted


def _retry_message(
    engine: Engine, retry: Retry, memory: str | None, walltime: str | None, jobs: dict[str, SubmissionRow]
) -> str:
    if retry.calibration:
        return (
            f"resubmitted calibration run {retry.run:05d}: {retry.because()} (its one retry; "
            "its data runs are re-armed on the new job)"
        )
    sched = engine.config.scheduler
    last_memory, last_walltime = sched.memory, sched.walltime
    for key in retry.keys:
        task = engine.state.latest(key)
        row = jobs.get(task.job_id) if task is not None else None
        if row is not None:
            last_memory, last_walltime = row.memory or last_memory, row.walltime or last_walltime
    attempt = max((engine.snapshot.subrun(k).attempt for k in retry.keys), default=0) + 1
    n = len(retry.keys)
    text = f"resubmitted {n} subrun{'s' if n != 1 else ''} of run {retry.run:05d}: {retry.because()}"
    if memory:
        text += f", memory {last_memory} -> {memory}"
    if walltime:
        text += f", wall time {last_walltime} -> {walltime}"
    shown = ", ".join(f"{k[1]:04d}" for k in retry.keys[:10]) + (" ..." if n > 10 else "")
    return text + f" (attempt {attempt} of {engine.config.autopilot.max_tries}; subruns {shown})"
