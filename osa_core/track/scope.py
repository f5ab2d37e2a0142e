"""Which jobs a refresh asks the scheduler about (those that can still change, now and then all), and asking.

A finished task does not change, short of a correction made after the fact (a requeue, a node
failure noticed late): asking about every job of the night at every refresh costs slurmdbd
~10,000 lines a refresh late in a 10k night for ~5 % that can still change. So a refresh asks
only about the jobs with an unfinished task, and the whole night in a *full sweep* at a slow
cadence (and before closing, on request). The time of the last sweep lives in the ledger, so
that the cadence holds across the processes of a night (cron, ``status``, the console). A night
whose every job is finished asks nothing at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from osa_core.model.config import Config
from osa_core.model.errors import SchedulerError
from osa_core.model.snapshot import SchedulerHealth
from osa_core.model.states import JobState
from osa_core.scheduler.base import QUERY_SLACK, Scheduler, TaskInfo, utcnow
from osa_core.track.ledger import SubmissionRow

log = logging.getLogger("osa.engine")  # the engine's log: a refresh is the engine's

FULL_SWEEP_EVERY = dt.timedelta(minutes=10)
SWEEP_META = "last_full_sweep"
"""Ledger meta key: when the last full sweep was answered (ISO time, UTC)."""


@dataclass(frozen=True, slots=True)
class Query:
    """One scheduler query: these jobs (``--jobs``), with these names, submitted since then."""

    names: tuple[str, ...]
    since: dt.datetime
    job_ids: tuple[str, ...]
    """Job ids, and array task ids (``JOB_INDEX``) where only some tasks of a job can change."""
    full: bool
    """Every job of the night (a sweep), not only the unfinished ones."""


class QueryScope:
    """The night's jobs as submitted (id, name, time) and the cadence of full sweeps."""

    def __init__(self, every: dt.timedelta = FULL_SWEEP_EVERY) -> None:
        self.every = every
        self.jobs: dict[str, tuple[str, dt.datetime, int]] = {}
        """job id -> (name, submitted at, tasks)."""
        self.last_sweep: dt.datetime | None = None
        self._requested = False

    def load(self, submissions: Iterable[SubmissionRow], last_sweep: str | None) -> None:
        """Start again from the ledger (another process may have submitted or swept)."""
        self.jobs = {}
        for sub in submissions:
            if sub.job_id:
                self.add(sub.job_id, sub.name, sub.submitted_at, len(sub.indices or (None,)))
        self.last_sweep = dt.datetime.fromisoformat(last_sweep) if last_sweep else None

    def add(self, job_id: str, name: str, submitted_at: dt.datetime, tasks: int = 1) -> None:
        self.jobs[job_id] = (name, submitted_at, tasks)

    def request_sweep(self) -> None:
        """The next query asks about every job (before closing: the last word on the night)."""
        self._requested = True

    def due(self, unfinished: set[str], now: dt.datetime) -> bool:
        """A sweep is due when asked for, or at the cadence while some job can still change."""
        if self._requested:
            return True
        if not unfinished:
            return False
        if self.last_sweep is None or self.last_sweep > now:  # (a clock that went back: sweep)
            return True
        return now - self.last_sweep >= self.every

    def query(
        self,
        unfinished: Mapping[str, Mapping[int | None, JobState]],
        now: dt.datetime,
        full: bool = False,
        task_ids: bool = False,
    ) -> Query | None:
        """The query a refresh makes now; None when nothing can change (ask nothing).

        ``unfinished``: each job's unfinished tasks (array index -> state). With ``task_ids``
        (a scheduler that takes ``JOB_INDEX`` ids: sacct), a job whose unfinished tasks all run
        and are at most half of it is asked about those tasks only: an array of 200 with one
        straggler costs that task's lines, not the array's. A job with a task that has not
        started is asked whole: a pending array task has no accounting record of its own until
        it starts (sacct shows ``JOB_[3-9]``); so is a job mostly running (its id is shorter).
        """
        full = full or self.due(set(unfinished), now)
        jobs = list(self.jobs) if full else [j for j in unfinished if j in self.jobs]
        if not jobs:
            return None
        jobs.sort(key=lambda j: (len(j), j))
        chosen: list[str] = []
        for job in jobs:
            tasks = unfinished.get(job) if task_ids and not full else None
            if (
                tasks
                and 2 * len(tasks) <= self.jobs[job][2]
                and all(i is not None and state is JobState.RUNNING for i, state in tasks.items())
            ):
                chosen += [f"{job}_{i}" for i in sorted(i for i in tasks if i is not None)]
            else:
                chosen.append(job)
        names = sorted({self.jobs[j][0] for j in jobs})
        since = min(self.jobs[j][1] for j in jobs) - QUERY_SLACK
        return Query(tuple(names), since, tuple(chosen), full)

    def swept(self, now: dt.datetime) -> None:
        """A full sweep was answered."""
        self.last_sweep = now
        self._requested = False


async def ask(
    scheduler: Scheduler, query: Query, active: bool, last: SchedulerHealth
) -> tuple[list[TaskInfo] | None, SchedulerHealth]:
    """A refresh's one query (and, while tasks are ``active``, the controller's ping; in a sweep,
    the live queue's word on requeued tasks): the answer and the scheduler's health. A scheduler
    that does not answer is a health, never raised."""
    try:
        infos = await scheduler.query(query.names, query.since, query.job_ids)
        if query.full:  # a sweep is the last word before closing: the live queue's too
            infos = await scheduler.requeued(infos)
        if active:
            # sacct answers from the accounting database even with the controller
            # down; while jobs are in flight the controller's health matters too.
            await scheduler.ping()
    except SchedulerError as exc:
        log.warning("scheduler did not answer: %s", exc)
        return None, SchedulerHealth(ok=False, error=str(exc), last_ok=last.last_ok)
    return infos, SchedulerHealth(ok=True, last_ok=utcnow())


def next_interval(interval: float, busy: bool, config: Config) -> float:
    """Seconds until the next refresh: the shortest while anything changed or runs, else half as
    long again as the last, up to the longest (``scheduler.refresh_min``, ``refresh_max``)."""
    return config.scheduler.refresh_min if busy else min(config.scheduler.refresh_max, interval * 1.5)
