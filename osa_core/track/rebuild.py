"""Rebuilding a damaged (or lost) night ledger from the scheduler's accounting and the history files.

What ran is not in the ledger alone: the scheduler's accounting (sacct on SLURM, the spool of
the local backend) keeps every job by its night-tagged name, and each task's history file keeps
its step records with the job id and attempt the job ran as. The rebuilt ledger has the plan,
one submission per job found, its tasks in their scheduler states and every step record, so the
next ``submit`` or ``resubmit`` submits nothing that already ran. The damaged file is kept
beside the new one (``.damaged-<time>``); nothing is deleted.

Not rebuilt: a closing in progress (merge jobs found are reported, and the closing state
starts afresh), resource requests of past submissions, the event log.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from osa_core.jobs.history import StepRecord, read_records
from osa_core.model.errors import RefusedAction
from osa_core.model.fileio import fsync_dir
from osa_core.model.layout import NightLayout
from osa_core.model.records import Sequence
from osa_core.scheduler.base import Scheduler, TaskInfo
from osa_core.track.ledger import Ledger, TaskRow
from osa_core.track.ledger_schema import damage


@dataclass
class RebuildReport:
    ledger: Path
    kept: Path | None
    """Where the damaged file now is (None: there was no file)."""
    jobs: list[str] = field(default_factory=list)
    tasks: int = 0
    step_records: int = 0
    merge_jobs: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"rebuilt {self.ledger}: {len(self.jobs)} job(s), {self.tasks} task(s), "
            f"{self.step_records} step record(s)",
        ]
        if self.kept is not None:
            out.append(f"the damaged ledger is kept as {self.kept}")
        if self.merge_jobs:
            out.append(
                f"the closing had begun (merge jobs {', '.join(self.merge_jobs)}): its state is not"
                " rebuilt; check the final directories before running close again"
            )
        return out


def night_start(layout: NightLayout) -> dt.datetime:
    """No job of the night can have been submitted before the night began."""
    day = dt.datetime.combine(layout.date, dt.time(0), tzinfo=dt.UTC)
    return day + dt.timedelta(hours=layout.config.night.day_boundary_hour) - dt.timedelta(days=1)


async def rebuild_ledger(
    layout: NightLayout, sequences: list[Sequence], scheduler: Scheduler, since: dt.datetime | None = None
) -> RebuildReport:
    """Rebuild the ledger at ``layout.ledger_path``; the caller holds the night's lock.

    ``since``: only jobs submitted at or after it are the night's (default: the night's start).
    A ledger that is whole is refused: rebuilding it would lose what only it knows.
    """
    path = layout.ledger_path
    if path.exists() and damage(path) is None:
        raise RefusedAction("the night ledger is whole: there is nothing to rebuild", path=path)
    since = since or night_start(layout)
    by_name = {layout.job_name(s.run): s for s in sequences}
    merge_names = [layout.merge_job_name(s.run) for s in sequences if not s.is_calibration]
    infos = await scheduler.query([*by_name, *merge_names], since)
    infos = [i for i in infos if i.submit is None or i.submit >= since]
    histories = _histories(layout, sequences)

    tmp = path.with_name(f".{path.name}.rebuild-{os.getpid()}")
    for leftover in (tmp, *_siblings(tmp)):
        leftover.unlink(missing_ok=True)
    ledger = Ledger(tmp)
    report = RebuildReport(ledger=path, kept=None)
    try:
        ledger.sync_plan(sequences)
        jobs: dict[str, list[TaskInfo]] = defaultdict(list)
        for info in infos:
            if info.name in by_name:
                jobs[info.job_id].append(info)
            else:
                report.merge_jobs.append(info.job_id)
        report.merge_jobs = sorted(set(report.merge_jobs), key=_job_order)
        tries: dict[tuple[int, int], int] = defaultdict(int)
        rows: list[TaskRow] = []
        for job_id in sorted(jobs, key=_job_order):
            tasks = sorted(jobs[job_id], key=lambda t: t.array_index or 0)
            sequence = by_name[tasks[0].name]
            indices = tuple(t.array_index or 0 for t in tasks)
            attempts = []
            for index in indices:
                key = (sequence.seq, index)
                tries[key] += 1
                # the job itself wrote which attempt it ran as; the order of the jobs otherwise
                ran_as = histories.attempts.get((sequence.seq, index, job_id))
                tries[key] = max(tries[key], ran_as or 0)
                attempts.append(tries[key])
            sub = ledger.begin_submission(
                seq=sequence.seq,
                name=tasks[0].name,
                indices=None if sequence.is_calibration else indices,
                attempts=tuple(attempts),
                script=str(layout.script(sequence.run)),
                memory=None,
                walltime=None,
                after_ok=(),
                at=min((t.submit for t in tasks if t.submit), default=since),
            )
            ledger.complete_submission(sub, job_id, note="rebuilt from the scheduler's accounting")
            rows += [
                TaskRow(sequence.seq, t.array_index or 0, a, job_id, t.array_index, t.state, t.exit_code,
                        t.signal, t.node, t.start, t.end, t.reason, t.usage)
                for t, a in zip(tasks, attempts, strict=True)
            ]  # fmt: skip
            report.jobs.append(job_id)
        ledger.update_tasks(rows)
        report.tasks = len(rows)
        ledger.add_step_records(histories.records, histories.offsets)
        report.step_records = len(histories.records)
        ledger.log_event("rebuild", "; ".join(report.lines()))
    finally:
        ledger.close()
    report.kept = _set_aside(path)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return report


@dataclass
class _Histories:
    records: list[tuple[int, int, StepRecord]] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)
    attempts: dict[tuple[int, int, str], int] = field(default_factory=dict)


def _histories(layout: NightLayout, sequences: list[Sequence]) -> _Histories:
    out = _Histories()
    for sequence in sequences:
        for subrun in range(1 if sequence.is_calibration else sequence.subruns):
            path = layout.history(sequence.run, None if sequence.is_calibration else subrun)
            if not path.is_file():
                continue
            records, end = read_records(path, 0)
            out.offsets[str(path)] = end
            for record in records:
                out.records.append((sequence.seq, subrun, record))
                if record.job_id:
                    out.attempts[(sequence.seq, subrun, record.job_id)] = record.attempt
    return out


def _siblings(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _set_aside(path: Path) -> Path | None:
    """Rename the damaged ledger (and its WAL files) out of the way; nothing is deleted."""
    if not path.exists():
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    kept = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while kept.exists():  # damaged twice within a second: keep both
        n += 1
        kept = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for src, dst in zip((path, *_siblings(path)), (kept, *_siblings(kept)), strict=True):
        if src.exists():
            os.replace(src, dst)
    return kept


def _job_order(job_id: str) -> int:
    return int(job_id) if job_id.isdigit() else 0
