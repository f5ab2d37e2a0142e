"""How a night's rows are shown: a task's state and reason as people read them, a sequence's one line.

Pure rules shared by the engine's snapshots (:mod:`osa_core.track.tracking`) and the snapshot a
cold process reads straight from the ledger (:mod:`osa_core.track.ledger_snapshot`): both show
a night the same way because they show it with these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Protocol

from osa_core.model.records import Sequence
from osa_core.model.snapshot import SequenceStatus, StepTiming, frozen_counts
from osa_core.model.states import JobState

NEVER_SATISFIED = "DependencyNeverSatisfied"


class ShownSubrun(Protocol):
    """What a sequence's line reads of each of its subruns (a :class:`SubrunStatus` has it all)."""

    @property
    def state(self) -> JobState: ...
    @property
    def attempt(self) -> int: ...
    @property
    def job_id(self) -> str | None: ...
    @property
    def start(self) -> dt.datetime | None: ...
    @property
    def end(self) -> dt.datetime | None: ...
    @property
    def reason(self) -> str | None: ...


def shown_state(
    state: JobState,
    reason: str | None,
    steps: tuple[StepTiming, ...],
    exit_code: int | None,
    signal: int | None,
    parent: int | None,
    calibration_failed: Callable[[int | None], bool],
) -> tuple[JobState, str | None]:
    """A task's state and reason as people are shown them: a pending task whose calibration failed
    is BLOCKED, and a failure is said by the step that failed (or was running when the task died)."""
    if state is JobState.PENDING and (reason == NEVER_SATISFIED or calibration_failed(parent)):
        return JobState.BLOCKED, f"blocked: its calibration (seq {parent}) failed; resubmit the calibration"
    if state.failed:
        failing = next((s for s in steps if s.exit_code not in (None, 0)), None)
        dying = next((s for s in steps if s.running), None)
        if failing is not None:
            first = failing.detail.splitlines()[-1] if failing.detail else ""
            reason = f"{failing.name} exited {failing.exit_code}" + (f": {first}" if first else "")
        elif dying is not None:
            reason = f"{state.value.lower().replace('_', ' ')} during {dying.name}"
        elif reason is None and exit_code is not None:
            reason = f"exit code {exit_code}" + (f", signal {signal}" if signal else "")
    return state, reason


def sequence_status(sequence: Sequence, subruns: tuple[ShownSubrun, ...]) -> SequenceStatus:
    """A sequence's line: its subruns counted by state, one state for all, its span and latest job."""
    counts: dict[JobState, int] = {}
    for status in subruns:
        counts[status.state] = counts.get(status.state, 0) + 1
    starts = [s.start for s in subruns if s.start is not None]
    ends = [s.end for s in subruns if s.end is not None]
    all_done = all(s.state.finished for s in subruns)
    latest_job = None
    for status in subruns:
        if status.job_id is not None and (latest_job is None or status.attempt >= latest_job[0]):
            latest_job = (status.attempt, status.job_id)
    state = _aggregate(counts)
    reason = None
    if state is JobState.BLOCKED:
        reason = f"waits on failed calibration seq {sequence.parent}"
    elif state.failed:
        reason = next((s.reason for s in subruns if s.state.failed and s.reason), None)
    return SequenceStatus(
        seq=sequence.seq,
        type=sequence.type,
        run=sequence.run,
        subruns=len(subruns),
        parent=sequence.parent,
        drs4_run=sequence.drs4_run,
        state=state,
        counts=frozen_counts(counts),
        tries=max((s.attempt for s in subruns), default=0),
        job_id=latest_job[1] if latest_job else None,
        start=min(starts) if starts else None,
        end=max(ends) if ends and all_done else None,
        reason=reason,
    )


def _aggregate(counts: Mapping[JobState, int]) -> JobState:
    """One state for a sequence: the most urgent thing an operator must know about it."""
    total = sum(counts.values())
    if total and counts.get(JobState.COMPLETED, 0) == total:
        return JobState.COMPLETED
    if counts.get(JobState.RUNNING):
        return JobState.RUNNING
    if counts.get(JobState.BLOCKED):
        return JobState.BLOCKED
    if counts.get(JobState.PENDING):
        return JobState.PENDING
    for state in (JobState.OUT_OF_MEMORY, JobState.TIMEOUT, JobState.NODE_FAIL, JobState.FAILED):
        if counts.get(state):
            return state
    if counts.get(JobState.CANCELLED):
        return JobState.CANCELLED
    if counts.get(JobState.NOT_SUBMITTED):
        return JobState.NOT_SUBMITTED
    return JobState.UNKNOWN
