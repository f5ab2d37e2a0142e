"""A night's snapshot read straight from its ledger, for a process that shows the night once.

A cold ``osa-core status`` used to build the engine's whole memory of the night (every attempt's
task and step rows as objects, :class:`~osa_core.track.tracking.NightState`) to fold one
scheduler answer and draw one snapshot: three quarters of its time for a 10,000-subrun night.
Here the ledger is read once, as tuples (the steps of each subrun's latest attempt only are
turned into objects), and the snapshot is built with the rules of :mod:`osa_core.track.tracking`
(its functions, not a copy of them), so it is the very snapshot a whole engine would show. The
engine of such a process holds only the tasks a refresh can change (:func:`live_tasks`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from osa_core.model.records import Sequence as NightSequence
from osa_core.model.snapshot import (
    NightSnapshot,
    StepTiming,
    SubrunKey,
    SubrunStatus,
)
from osa_core.model.states import FINISHED_STATES, JobState
from osa_core.model.usage import Usage
from osa_core.track.frame import Frame
from osa_core.track.ledger import Ledger, TaskRow
from osa_core.track.ledger_rows import TASK_COLUMNS, task_row, usage_column
from osa_core.track.shown import sequence_status, shown_state

_FINISHED = ", ".join(f"'{state.value}'" for state in sorted(FINISHED_STATES))
# Every attempt of every subrun that has a task in a job not finished yet: the jobs a refresh
# asks about (their finished tasks too: the answer may correct them), and the attempts that
# tell which one is the latest.
LIVE_TASKS = (
    f"SELECT {TASK_COLUMNS} FROM tasks WHERE (seq, subrun) IN (SELECT seq, subrun FROM tasks"
    f" WHERE job_id IN (SELECT job_id FROM tasks WHERE state NOT IN ({_FINISHED})))"
    " ORDER BY seq, subrun, attempt"
)
TASKS = (
    "SELECT seq, subrun, attempt, job_id, state, exit_code, signal, node, start, end, reason, usage"
    " FROM tasks ORDER BY seq, subrun, attempt"
)
# In the order the engine keeps a subrun's steps (rowid: the order they were first recorded),
# grouped here rather than by SQLite (a sort of every row: a third of the read).
STEPS = "SELECT seq, subrun, attempt, step, start, end, exit_code, skipped, detail FROM steps ORDER BY rowid"
STATES = {state.value: state for state in JobState}
"""A ``tasks.state`` column's state."""


def live_tasks(ledger: Ledger) -> list[TaskRow]:
    """The task rows a refresh can change (what the scheduler is asked about outside a sweep)."""
    return [task_row(r) for r in ledger.select(LIVE_TASKS)]


def read_snapshot(
    ledger: Ledger,
    sequences: Sequence[NightSequence],
    frame: Frame,
) -> NightSnapshot:
    """The night as its ledger holds it: what ``NightState.snapshot`` shows first, from two SELECTs."""
    latest: dict[SubrunKey, tuple[Any, ...]] = {}
    attempts: dict[SubrunKey, tuple[tuple[int, str], ...]] = {}
    for row in ledger.select(TASKS):
        key = (row[0], row[1])
        earlier = attempts.get(key)
        attempts[key] = ((row[2], row[3]),) if earlier is None else (*earlier, (row[2], row[3]))
        latest[key] = row
    steps = _latest_steps(ledger, latest)
    by_seq = {s.seq: s for s in sequences}

    def calibration_failed(seq: int | None) -> bool:
        if seq is None or seq not in by_seq:
            return False
        task = latest.get((seq, 0))
        return task is not None and STATES[task[4]].failed

    usages: dict[str, Usage | None] = {}
    subruns: dict[int, tuple[SubrunStatus, ...]] = {}
    statuses = []
    keys: list[SubrunKey] = []
    for sequence in sequences:
        seq, run = sequence.seq, sequence.run
        shown = []
        for subrun in range(1 if sequence.is_calibration else sequence.subruns):
            key = (seq, subrun)
            keys.append(key)
            task = latest.get(key)
            if task is None:
                shown.append(SubrunStatus(seq, run, subrun, JobState.NOT_SUBMITTED, 0))
                continue
            timings = steps.get(key, ())
            state, reason = STATES[task[4]], task[10]
            if state is JobState.PENDING or state.failed:
                state, reason = shown_state(
                    state, reason, timings, task[5], task[6], sequence.parent, calibration_failed
                )
            text = task[11]
            if text and text not in usages:
                usages[text] = usage_column(text)
            shown.append(
                SubrunStatus(
                    seq,
                    run,
                    subrun,
                    state,
                    task[2],
                    task[3],
                    task[5],
                    task[7],
                    iso_time(task[8]),
                    iso_time(task[9]),
                    reason,
                    timings,
                    attempts[key],
                    usages[text] if text else None,
                )
            )
        subruns[seq] = tuple(shown)
        statuses.append(sequence_status(sequence, subruns[seq]))
    return frame.snapshot(tuple(statuses), subruns, frozenset(keys))


def _latest_steps(
    ledger: Ledger, latest: Mapping[SubrunKey, tuple[Any, ...]]
) -> dict[SubrunKey, tuple[StepTiming, ...]]:
    """The steps of each subrun's latest attempt (an earlier attempt's are not shown)."""
    out: dict[SubrunKey, list[StepTiming]] = {}
    time = iso_time
    for seq, subrun, attempt, name, start, end, exit_code, skipped, detail in ledger.select(STEPS):
        key = (seq, subrun)
        task = latest.get(key)
        if task is None or task[2] != attempt:
            continue
        timing = StepTiming(name, time(start), time(end), exit_code, bool(skipped), detail)
        steps = out.get(key)
        if steps is None:
            out[key] = [timing]
        else:
            steps.append(timing)
    return {key: tuple(steps) for key, steps in out.items()}


def iso_time(value: str | None) -> dt.datetime | None:
    """A time column back (None stays None)."""
    return dt.datetime.fromisoformat(value) if value else None
