"""Run types and job states: the vocabulary shared by planner, schedulers, ledger and UI."""

from __future__ import annotations

from enum import StrEnum


class RunType(StrEnum):
    DRS4 = "DRS4"
    PEDCALIB = "PEDCALIB"  # the legacy name CALI is read as PEDCALIB
    DATA = "DATA"
    OTHER = "OTHER"


class SequenceType(StrEnum):
    CALIBRATION = "CALIBRATION"
    DATA = "DATA"


class JobState(StrEnum):
    """Task states, named as SLURM names them, plus two the engine derives.

    ``BLOCKED`` is a pending task whose dependency can never be satisfied (its parent failed);
    ``UNKNOWN`` is a task the scheduler has no record of (yet).
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    BLOCKED = "BLOCKED"
    UNKNOWN = "UNKNOWN"
    NOT_SUBMITTED = "NOT_SUBMITTED"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES

    @property
    def failed(self) -> bool:
        return self in FAILURE_STATES

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATES


FAILURE_STATES = frozenset(
    {JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT, JobState.OUT_OF_MEMORY, JobState.NODE_FAIL}
)
FINISHED_STATES = FAILURE_STATES | {JobState.COMPLETED}
ACTIVE_STATES = frozenset({JobState.PENDING, JobState.RUNNING, JobState.BLOCKED})
