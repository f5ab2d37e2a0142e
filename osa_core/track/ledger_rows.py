"""The rows the night ledger hands out: typed, frozen, one class per table that is read back."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from dataclasses import dataclass
from typing import Any

import msgspec

from osa_core.model.states import JobState
from osa_core.model.usage import Usage


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
    usage: Usage | None = None


TASK_COLUMNS = (
    "seq, subrun, attempt, job_id, array_index, state, exit_code, signal, node, start, end, reason, usage"
)


def usage_column(text: str) -> Usage | None:
    """The ``tasks.usage`` column back (msgspec: 4x json's speed; json for a NaN, which msgspec
    refuses)."""
    try:
        data = msgspec.json.decode(text)
    except msgspec.DecodeError:
        data = json.loads(text)
    return Usage.from_json(data)


def task_row(r: tuple[Any, ...]) -> TaskRow:
    """A row of ``SELECT TASK_COLUMNS FROM tasks``."""
    usage = usage_column(r[12]) if r[12] else None
    return TaskRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        JobState(r[5]),
        r[6],
        r[7],
        r[8],
        from_iso(r[9]),
        from_iso(r[10]),
        r[11],
        usage,
    )


def task_values(t: TaskRow) -> tuple[Any, ...]:
    """A task row's changing columns and its key, for ``UPDATE tasks SET state ... usage WHERE ...``."""
    usage = None if t.usage is None or t.usage.empty else json.dumps(t.usage.to_json())
    changing = (t.state.value, t.exit_code, t.signal, t.node, to_iso(t.start), to_iso(t.end), t.reason, usage)
    return (*changing, t.seq, t.subrun, t.attempt)


def os_user() -> str:
    """Who runs this process, as the ledger records it beside submissions, intents and events."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment and no passwd entry (a container)
        return f"uid {os.getuid()}"


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
