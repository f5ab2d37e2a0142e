"""The closing's jobs as their step records say: each run's merge job and the night-wise checks.

The job-side runner appends a record per step to ``Run<run>.merge.history`` (every attempt of a
run's merge) and ``night_checks.history``, as it does for subruns. Shown like the subruns' steps
(the console's closing screen, the handover report): the last attempt of each job, its steps in
the order they started, with their times and exit codes. Read-only; no scheduler.
"""

from __future__ import annotations

from pathlib import Path

from osa_core.jobs.history import StepRecord, read_records
from osa_core.model.closestate import ClosingJob
from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import StepTiming


def closing_jobs(layout: NightLayout, runs: list[int]) -> tuple[ClosingJob, ...]:
    """The merge job of each of ``runs`` that has run (in run order), then the night-wise checks."""
    found = [_job(layout.merge_history(run), run) for run in sorted(runs)]
    found.append(_job(layout.closing_checks_history, None))
    return tuple(job for job in found if job is not None)


def _job(path: Path, run: int | None) -> ClosingJob | None:
    try:
        records, _ = read_records(path)
    except OSError:  # unreadable now: shown as not run, read again next time
        return None
    if not records:
        return None
    attempt = max(r.attempt for r in records)
    latest = [r for r in records if r.attempt == attempt]
    first = latest[0]
    return ClosingJob(run, attempt, first.job_id, first.host, _steps(latest))


def _steps(records: list[StepRecord]) -> tuple[StepTiming, ...]:
    """One timing per step: a start and its end (or none yet), or a skip."""
    order: list[str] = []
    start: dict[str, StepRecord] = {}
    end: dict[str, StepRecord] = {}
    for record in records:
        if record.step not in order:
            order.append(record.step)
        if record.event == "start":
            start[record.step] = record
        else:
            end[record.step] = record
    out = []
    for name in order:
        began, ended = start.get(name), end.get(name)
        skipped = ended is not None and ended.event == "skip"
        out.append(
            StepTiming(
                name=name,
                start=began.when if began else (ended.when if skipped and ended else None),
                end=ended.when if ended else None,
                exit_code=ended.exit_code if ended else None,
                skipped=skipped,
                detail=ended.detail if ended else "",
            )
        )
    return tuple(out)
