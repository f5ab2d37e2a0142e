"""The scheduler boundary: what the engine asks of SLURM, the local executor or pyslurm.

One query returns every task of a night; the engine never asks per job.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from osa_core.model.states import JobState
from osa_core.model.usage import Usage

QUERY_SLACK = dt.timedelta(minutes=10)
"""How far before a night's first submission a query reaches back: sacct lists jobs by submission
or eligibility time, and a cluster's clocks agree only so far."""


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC: the only clock submissions, intents and queries are stamped with."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One submission: a single job or an array with chosen indices."""

    name: str
    """Job name, carrying the night tag (``LST1_01874_20200127``)."""
    script: str
    """The batch script (``#SBATCH`` lines are ignored by backends that take options here)."""
    workdir: str
    stdout: str
    """``--output`` pattern (``%A`` array master id, ``%a`` index, ``%4a`` zero-padded, ``%j`` job id)."""
    stderr: str
    array: tuple[int, ...] | None = None
    """Array indices; None: a single job."""
    throttle: int = 0
    """At most this many tasks of the array run at once; 0: no limit."""
    after_ok: tuple[str, ...] = ()
    """Job ids this job waits for (``afterok``)."""
    memory: str | None = None
    walltime: str | None = None
    partition: str | None = None
    account: str | None = None
    comment: str = ""
    args: tuple[str, ...] = ()
    """Arguments passed to the script."""
    extra: tuple[str, ...] = ()
    """Extra sbatch options, passed as they are."""
    exclude: tuple[str, ...] = ()
    """Nodes the job must not run on (``sbatch --exclude``)."""
    env: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What the scheduler knows of one task (one array index, or one single job)."""

    job_id: str
    """The job id given at submission (for arrays: the array's master id)."""
    array_index: int | None
    name: str
    state: JobState
    exit_code: int | None = None
    signal: int | None = None
    node: str | None = None
    submit: dt.datetime | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    reason: str | None = None
    """Why a pending task waits (``Dependency``, ``DependencyNeverSatisfied``, ``Priority`` ...)."""
    usage: Usage | None = None
    """Peak memory, CPU time, requested memory and time limit, as far as the accounting says."""


class Scheduler(abc.ABC):
    """A batch system. Every method may raise SchedulerUnreachable or SchedulerError."""

    name: str = "abstract"
    task_ids: bool = False
    """``query`` takes array task ids (``JOB_INDEX``) among ``job_ids``, answering for those
    tasks only (sacct does; a backend that does not is asked about whole jobs)."""

    @abc.abstractmethod
    async def submit(self, request: JobRequest) -> str:
        """Submit; return the job id (the array's master id)."""

    @abc.abstractmethod
    async def query(
        self, names: Sequence[str], since: dt.datetime, job_ids: Sequence[str] = ()
    ) -> list[TaskInfo]:
        """Every task of the jobs with these names submitted since ``since``: one call.

        ``job_ids``, when given, narrows the answer to those jobs (and, where ``task_ids``, to
        those array tasks); SLURM needs them to show jobs that are not yet eligible (waiting on
        a dependency, held, throttled).
        """

    async def requeued(self, tasks: list[TaskInfo]) -> list[TaskInfo]:
        """``tasks``, a sweep's answer, with those the scheduler has put back in its queue since
        they finished (requeued) read as pending, where the answer comes from an accounting
        that hears of it later (SLURM's sacct). A backend that answers live returns them as is."""
        return tasks

    async def ping(self) -> None:  # noqa: B027 - a backend without a controller is always up
        """Raise SchedulerUnreachable when the scheduler's controller does not answer."""

    @abc.abstractmethod
    async def cancel(self, job_id: str, indices: Sequence[int] | None = None) -> None:
        """Cancel a job, or only some indices of an array."""

    @abc.abstractmethod
    async def set_dependency(self, job_id: str, after_ok: Sequence[str]) -> None:
        """Replace a pending job's dependency (re-arms data waiting on a failed calibration)."""

    async def pending_tasks(self, name_prefix: str) -> int:
        """How many of our tasks (this user's) whose job name starts with ``name_prefix`` are
        pending, across every night: one call. The autopilot's ``max_pending_tasks`` reads it."""
        raise NotImplementedError(f"{self.name} cannot count pending tasks")

    async def hold(self, job_id: str) -> None:
        raise NotImplementedError(f"{self.name} cannot hold jobs")

    async def release(self, job_id: str) -> None:
        raise NotImplementedError(f"{self.name} cannot release jobs")

    def close(self) -> None:  # noqa: B027 - most backends hold nothing
        """Release what the backend holds (connections, handles); :meth:`Engine.shutdown` calls it."""
