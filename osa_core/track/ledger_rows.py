"""The rows the night ledger hands out: typed, frozen, one class per table that is read back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from osa_core.model.states import JobState


@dataclass(frozen=True, slots=True)
class SubmissionRow:
    id: int
    seq: int
    name: str
    job_id: str | None
    status: str
    """``submitting`` (sbatch may or may not have run), ``submitted``, ``lost``."""
    indices: tuple[int, ...] | None
    attempts: tuple[int, ...]
    submitted_at: dt.datetime
    script: str
    memory: str | None
    walltime: str | None
    after_ok: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TaskRow:
    seq: int
    subrun: int
    attempt: int
    job_id: str
    array_index: int | None
    state: JobState
    exit_code: int | None = None
    signal: int | None = None
    node: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StepRow:
    seq: int
    subrun: int
    attempt: int
    step: str
    start: dt.datetime | None
    end: dt.datetime | None
    exit_code: int | None
    skipped: bool
    host: str | None
    job_id: str | None
    detail: str


def to_iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def from_iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class IntentRow:
    """A mutation's intent that is not a job submission (``cancel``, ``rearm``), until it is done."""

    id: int
    kind: str
    payload: dict[str, Any]
    begun_at: dt.datetime
    status: str
    """``open`` (the scheduler may have been told part of it), ``done``."""
