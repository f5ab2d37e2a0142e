"""The local executor's scheduling policy, pure: which pending tasks start, and why the others wait.

FIFO by job id then array index, like a Slurm partition with equal priorities; a task that cannot
start does not block the ones behind it (Slurm's backfill does the same for a single node).
Pending reasons use Slurm's words, so the engine reads them the same from either backend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from osa_core.model.states import JobState
from osa_core.scheduler.local.task import TaskStatus

WAITING = "waiting"
SATISFIED = "satisfied"
NEVER = "never"

REASON_HELD = "JobHeldUser"
REASON_NEVER = "DependencyNeverSatisfied"
REASON_DEPENDENCY = "Dependency"
REASON_THROTTLE = "JobArrayTaskLimit"
REASON_RESOURCES = "Resources"

_UNSUCCESSFUL = frozenset(
    {JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT, JobState.OUT_OF_MEMORY, JobState.NODE_FAIL}
)


@dataclass(frozen=True, slots=True)
class Pending:
    task_id: int
    job_id: int
    index: int | None
    held: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class JobLimits:
    throttle: int
    after_ok: tuple[int, ...]


def dependency_state(after_ok: Sequence[int], states: Mapping[int, Mapping[str, int]]) -> str:
    """``afterok`` on jobs whose tasks are in ``states`` (job id -> count per state).

    Satisfied when every task of every parent COMPLETED; never satisfied as soon as one ended
    otherwise (Slurm 22.05 then leaves the job pending with ``DependencyNeverSatisfied``); a
    parent with no tasks on record counts as done, as Slurm treats a purged job.
    """
    result = SATISFIED
    for parent in after_ok:
        counts = states.get(parent)
        if not counts:
            continue
        if any(counts.get(state, 0) for state in _UNSUCCESSFUL):
            return NEVER
        if sum(counts.values()) != counts.get(JobState.COMPLETED, 0):
            result = WAITING
    return result


def plan(
    pending: Sequence[Pending],
    limits: Mapping[int, JobLimits],
    dependencies: Mapping[int, str],
    running_per_job: Counter[int],
    free: int,
) -> tuple[list[Pending], dict[int, str]]:
    """The tasks to start now (at most ``free``, in order) and the changed reasons of the rest."""
    start: list[Pending] = []
    started: Counter[int] = Counter()
    reasons: dict[int, str] = {}
    for task in pending:
        limit = limits.get(task.job_id, JobLimits(0, ()))
        dependency = dependencies.get(task.job_id, SATISFIED)
        if task.held:
            reason = REASON_HELD
        elif dependency == NEVER:
            reason = REASON_NEVER
        elif dependency == WAITING:
            reason = REASON_DEPENDENCY
        elif limit.throttle and running_per_job[task.job_id] + started[task.job_id] >= limit.throttle:
            reason = REASON_THROTTLE
        elif len(start) >= free:
            reason = REASON_RESOURCES
        else:
            start.append(task)
            started[task.job_id] += 1
            continue
        if reason != task.reason:
            reasons[task.task_id] = reason
    return start, reasons


def outcome(
    kill_reason: str | None, adopted: bool, status: TaskStatus | None, returncode: int | None, now: float
) -> tuple[JobState, int | None, int | None, float, str | None]:
    """State, exit code, signal, end time and reason of a finished task, as Slurm would say them.

    ``status`` is what the wrapper recorded; ``returncode`` the wrapper's own (None when the task
    was adopted from a previous daemon); ``kill_reason`` why the daemon killed it, if it did.
    """
    exit_code: int | None
    signum: int | None
    if status is not None:
        exit_code, signum, end = status.exit_code, status.signal, status.end
    elif returncode is not None:
        exit_code, signum, end = (0, -returncode, now) if returncode < 0 else (returncode, None, now)
    else:
        exit_code, signum, end = None, None, now
    if kill_reason is not None:
        return JobState(kill_reason), exit_code, signum, end, None
    if status is None and adopted:
        return JobState.NODE_FAIL, exit_code, signum, end, "executor restarted"
    if signum:
        return JobState.FAILED, exit_code, signum, end, None
    return (JobState.COMPLETED if exit_code == 0 else JobState.FAILED), exit_code, signum, end, None
