"""``status --json`` straight from the ledger's rows: the snapshot's JSON, without the snapshot.

A cold ``status --json`` of a 10,000-subrun night spent most of its time turning rows into
objects (a :class:`StepTiming` per step, a :class:`SubrunStatus` per subrun) only to turn them
into dicts again. Here each subrun's dict is made from its rows in one pass that also gathers
what the ETA, the sequence lines and the efficiency figures read; objects are built only for
the failed subruns (their groups). The rules are the snapshot's own, called, not copied:
:mod:`osa_core.track.shown` (states, reasons, sequence lines), :class:`NightTimes` (the ETA),
:func:`efficiency_json`, :func:`failure_groups`, ``NightSnapshot.to_json`` (the head and the
sequences). Only the shape of one subrun's dict is written here a second time, and
``tests/core/test_ledger_snapshot.py`` holds it to ``NightSnapshot.to_json``'s.

The night is made sequence by sequence (a :class:`Part` each, merged in the night's order), so
that a finished sequence's part can be kept between runs and its rows not read at all
(:mod:`osa_core.track.status_parts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from osa_core.model.records import Sequence as NightSequence
from osa_core.model.snapshot import (
    StepTiming,
    SubrunStatus,
    efficiency_json,
)
from osa_core.model.states import JobState, SequenceType
from osa_core.model.usage import Usage
from osa_core.track.eta import NightTimes, estimate_times
from osa_core.track.frame import Frame
from osa_core.track.ledger import Ledger
from osa_core.track.ledger_rows import usage_column
from osa_core.track.ledger_snapshot import STATES, STEPS, TASKS, iso_time
from osa_core.track.shown import sequence_status, shown_state
from osa_core.track.signatures import failure_groups
from osa_core.track.status_parts import Part, PartStore

_NOT_SUBMITTED = JobState.NOT_SUBMITTED.value


class _Line(NamedTuple):
    """What a sequence's line reads of one subrun (``track.shown.ShownSubrun``)."""

    state: JobState
    attempt: int
    job_id: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    reason: str | None


_NEVER = _Line(JobState.NOT_SUBMITTED, 0, None, None, None, None)
Step = tuple[str, dt.datetime | None, dt.datetime | None, bool, float | None, int | None, str]
"""(name, start, end, skipped, seconds, exit code, detail) of one step of a subrun's latest
attempt: what ``NightTimes.steps`` reads first."""


def status_rows(
    ledger: Ledger,
    sequences: Sequence[NightSequence],
    frame: Frame,
    cache: Path | None = None,
) -> dict[str, Any]:
    """What ``status_json`` makes of the snapshot ``read_snapshot`` would read, from two SELECTs;
    with ``cache`` (a directory), finished sequences are taken from it and their rows not read
    (:mod:`osa_core.track.status_parts`). ``subruns`` is JSON already (:class:`msgspec.Raw`)."""
    profile = frame.profile
    store = PartStore(cache, ledger) if cache is not None else None
    kept: dict[int, Part] = {}
    if store is not None:
        for sequence in sequences:
            if (part := store.load(sequence, frame.now, profile.step_names)) is not None:
                kept[sequence.seq] = part
    latest, steps = _rows(ledger, None if not kept else [s.seq for s in sequences if s.seq not in kept])
    by_seq = {s.seq: s for s in sequences}

    def calibration_failed(seq: int | None) -> bool:
        if seq is None or seq not in by_seq:
            return False
        if seq in kept:
            return bool(kept[seq].failed)  # a calibration's one subrun, failed as its task
        task = latest.get((seq, 0))
        return task is not None and STATES[task[4]].failed

    times = NightTimes(frame.now, profile.step_names)
    figures: dict[SequenceType, list[tuple[Usage, float | None]]] = {kind: [] for kind in SequenceType}
    usages: dict[str, tuple[Usage | None, dict[str, Any] | None]] = {}
    chunks: list[bytes] = []
    failed: dict[int, tuple[SubrunStatus, ...]] = {}
    statuses = []
    for sequence in sequences:
        part = kept.get(sequence.seq)
        if part is None:
            part = _part(sequence, latest, steps, calibration_failed, times, usages)
            if store is not None and part.final:
                store.save(sequence, part)
        times.merge(part.times)
        figures[sequence.type] += part.figures
        if part.failed:
            failed[sequence.seq] = part.failed
        if part.subruns:
            chunks.append(part.subruns)
        statuses.append(part.status)
    # The head and the sequence lines as the snapshot writes them; of the subruns, it holds
    # only the failed ones (what the failure groups are made of).
    snapshot = frame.snapshot(tuple(statuses), failed)
    out = snapshot.to_json()
    out["efficiency"] = efficiency_json(figures, profile.step_names, profile.step_labels)
    out["subruns"] = msgspec.Raw(b"[" + b",".join(chunks) + b"]")
    out["eta"] = estimate_times(times).to_json()
    out["failure_groups"] = [g.to_json() for g in failure_groups(snapshot)]
    return out


def _part(
    sequence: NightSequence,
    latest: Mapping[tuple[int, int], tuple[Any, ...]],
    steps: Mapping[tuple[int, int], list[Step]],
    calibration_failed: Callable[[int | None], bool],
    night: NightTimes,
    usages: dict[str, tuple[Usage | None, dict[str, Any] | None]],
) -> Part:
    """One sequence's share of the night, from its rows."""
    seq, run, kind = sequence.seq, sequence.run, sequence.type
    times = NightTimes(night.now, night.step_names)
    figures: list[tuple[Usage, float | None]] = []
    failed: list[SubrunStatus] = []
    subruns: list[dict[str, Any]] = []
    lines = []
    final = True
    for subrun in range(1 if sequence.is_calibration else sequence.subruns):
        task = latest.get((seq, subrun))
        if task is None:
            final = False
            times.subrun(kind, JobState.NOT_SUBMITTED, None, None)
            lines.append(_NEVER)
            subruns.append(_never(seq, run, subrun))
            continue
        mine = steps.get((seq, subrun), ())
        state, reason = STATES[task[4]], task[10]
        timings: tuple[StepTiming, ...] = ()
        if state is JobState.PENDING or state.failed:
            timings = tuple(StepTiming(n, s, e, code, k, d) for n, s, e, k, _, code, d in mine)
            state, reason = shown_state(
                state, reason, timings, task[5], task[6], sequence.parent, calibration_failed
            )
        start, end = iso_time(task[8]), iso_time(task[9])
        final = final and state.finished and (start is None or end is not None)
        text = task[11]
        if text and text not in usages:
            usage = usage_column(text)
            usages[text] = (usage, usage.to_json() if usage is not None else None)
        usage, usage_json = usages[text] if text else (None, None)
        if usage is not None and end is not None:
            figures.append((usage, (end - start).total_seconds() if start is not None else None))
        if state.failed:
            # attempts are not part of a failure's group: left empty
            failed.append(SubrunStatus(seq, run, subrun, state, task[2], task[3], task[5], task[7], start,
                                       end, reason, timings, (), usage))  # fmt: skip
        lines.append(_Line(state, task[2], task[3], start, end, reason))
        times.steps(kind, times.subrun(kind, state, start, end), mine)
        shown = [
            {"name": name, "seconds": seconds, "exit_code": code, "skipped": skipped, "detail": detail}
            for name, _, _, skipped, seconds, code, detail in mine
        ]
        subruns.append(
            {
                "seq": seq,
                "run": run,
                "subrun": subrun,
                "state": state.value,
                "attempt": task[2],
                "job_id": task[3],
                "exit_code": task[5],
                "node": task[7],
                "start": None if start is None else start.isoformat(),
                "end": None if end is None else end.isoformat(),
                "reason": reason,
                "usage": usage_json,
                "steps": shown,
            }
        )
    encoded = msgspec.json.encode(subruns)[1:-1]
    return Part(sequence_status(sequence, tuple(lines)), encoded, times, figures, tuple(failed), final)


def _rows(
    ledger: Ledger, seqs: list[int] | None
) -> tuple[dict[tuple[int, int], tuple[Any, ...]], dict[tuple[int, int], list[Step]]]:
    """Each subrun's latest task row and its steps, of the whole night or of ``seqs`` only."""
    tasks, steps = TASKS, STEPS
    args: tuple[int, ...] = ()
    if seqs is not None:
        if not seqs:
            return {}, {}
        where = f" WHERE seq IN ({','.join('?' * len(seqs))}) ORDER BY "
        tasks, steps = tasks.replace(" ORDER BY ", where), steps.replace(" ORDER BY ", where)
        args = tuple(seqs)
    latest: dict[tuple[int, int], tuple[Any, ...]] = {}
    for row in ledger.select(tasks, args):
        latest[(row[0], row[1])] = row
    return latest, _latest_steps(ledger.select(steps, args), latest)


def _never(seq: int, run: int, subrun: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "run": run,
        "subrun": subrun,
        "state": _NOT_SUBMITTED,
        "attempt": 0,
        "job_id": None,
        "exit_code": None,
        "node": None,
        "start": None,
        "end": None,
        "reason": None,
        "usage": None,
        "steps": [],
    }


def _latest_steps(
    rows: Iterable[tuple[Any, ...]], latest: Mapping[tuple[int, int], tuple[Any, ...]]
) -> dict[tuple[int, int], list[Step]]:
    """The steps of each subrun's latest attempt, in the order they were first recorded."""
    out: dict[tuple[int, int], list[Step]] = {}
    time = dt.datetime.fromisoformat
    for seq, subrun, attempt, name, start, end, exit_code, skipped, detail in rows:
        key = (seq, subrun)
        task = latest.get(key)
        if task is None or task[2] != attempt:
            continue
        began, ended = time(start) if start else None, time(end) if end else None
        seconds = None if began is None or ended is None else (ended - began).total_seconds()
        step = (name, began, ended, bool(skipped), seconds, exit_code, detail)
        mine = out.get(key)
        if mine is None:
            out[key] = [step]
        else:
            mine.append(step)
    return out
