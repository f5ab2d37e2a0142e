"""Fixed night data for snapshot tests and the benchmark, and a port that serves it.

This fake is for rendering only (snapshot tests, the benchmark): fixed data and a fixed clock
make screenshots deterministic. Tests of what keys *do* run against the real engine
(see test_pilot_engine.py): a fake there would only prove that the fake and the test agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from osa_core.model.actions import ActionPreview, ActionReport, LogRef, PlannedSubmission, Selection
from osa_core.model.closestate import ClosingJob
from osa_core.model.snapshot import (
    NightSnapshot,
    SchedulerHealth,
    SequenceStatus,
    StepTiming,
    SubrunKey,
    SubrunStatus,
    frozen_counts,
)
from osa_core.model.states import JobState, SequenceType
from osa_core.model.usage import Usage

NIGHT = dt.date(2020, 1, 27)
T0 = dt.datetime(2020, 1, 28, 8, 0, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(minutes=42, seconds=12)
DATA_STEPS = ("r0_to_dl1", "datacheck", "muons", "dl1_to_dl2")
CALIB_STEPS = ("drs4", "charge", "time")
LABELS = {
    "r0_to_dl1": "R0→DL1",
    "datacheck": "datacheck",
    "muons": "muons",
    "dl1_to_dl2": "DL1→DL2",
    "drs4": "DRS4",
    "charge": "charge",
    "time": "time",
}


def fixed_clock() -> dt.datetime:
    return NOW


def _subrun(seq: int, run: int, subrun: int, state: JobState, steps_names: tuple[str, ...]) -> SubrunStatus:
    """A subrun in ``state`` with deterministic, slightly varied step durations."""
    start = T0 + dt.timedelta(seconds=5 * subrun + 7 * (seq % 5))
    durations = [30 + (subrun * 7 + i * 13 + seq) % 40 for i in range(len(steps_names))]
    steps: list[StepTiming] = []
    t = start
    if state is JobState.COMPLETED:
        for name, d in zip(steps_names, durations, strict=True):
            steps.append(StepTiming(name, t, t + dt.timedelta(seconds=d), 0))
            t += dt.timedelta(seconds=d)
        return SubrunStatus(
            seq,
            run,
            subrun,
            state,
            1,
            f"{1000 + seq}",
            0,
            f"node{subrun % 4:02d}",
            start,
            t,
            None,
            tuple(steps),
            ((1, f"{1000 + seq}"),),
            # what sacct says of a finished task: the console's mem and cpu columns, the usage line
            usage=Usage(
                max_rss=(2048 + 40 * subrun) * 1024**2,
                cpu_seconds=0.93 * (t - start).total_seconds(),
                req_mem=4 * 1024**3,
                time_limit=4 * 3600.0,
            ),
        )
    if state is JobState.RUNNING:
        d = durations[0]
        steps.append(StepTiming(steps_names[0], t, t + dt.timedelta(seconds=d), 0))
        steps.append(StepTiming(steps_names[1], t + dt.timedelta(seconds=d), None, None))
        return SubrunStatus(
            seq,
            run,
            subrun,
            state,
            1,
            f"{1000 + seq}",
            None,
            f"node{subrun % 4:02d}",
            start,
            None,
            None,
            tuple(steps),
            ((1, f"{1000 + seq}"),),
        )
    if state.failed:
        d = durations[0]
        steps.append(StepTiming(steps_names[0], t, t + dt.timedelta(seconds=d), 3, detail="injected failure"))
        end = t + dt.timedelta(seconds=d)
        return SubrunStatus(
            seq,
            run,
            subrun,
            state,
            2,
            f"{2000 + seq}",
            3,
            f"node{subrun % 4:02d}",
            start,
            end,
            "step r0_to_dl1 exited 3",
            tuple(steps),
            ((1, f"{1000 + seq}"), (2, f"{2000 + seq}")),
        )
    return SubrunStatus(
        seq,
        run,
        subrun,
        state,
        1 if state is JobState.PENDING else 0,
        f"{1000 + seq}" if state is JobState.PENDING else None,
    )


def _state_for(seq: int, subrun: int, n: int, seq_index: int, n_seqs: int) -> JobState:
    """Earlier sequences are done, the middle ones run, the last ones wait; a few fail."""
    if seq_index < n_seqs * 0.4:
        return JobState.FAILED if subrun in (3, 17) and seq_index % 3 == 1 else JobState.COMPLETED
    if seq_index < n_seqs * 0.8:
        frac = subrun / max(n, 1)
        if frac < 0.5:
            return JobState.FAILED if subrun == 5 else JobState.COMPLETED
        if frac < 0.6:
            return JobState.RUNNING
        return JobState.PENDING
    return JobState.PENDING


def sequence_status(
    seq: int, typ: SequenceType, run: int, subruns: Iterable[SubrunStatus], n: int, parent: int | None
) -> SequenceStatus:
    subruns = list(subruns)
    counts: dict[JobState, int] = {}
    for s in subruns:
        counts[s.state] = counts.get(s.state, 0) + 1
    if counts.get(JobState.RUNNING):
        state = JobState.RUNNING
    elif any(st.failed for st in counts) and all(st.finished for st in counts):
        state = JobState.FAILED
    elif all(st is JobState.COMPLETED for st in counts):
        state = JobState.COMPLETED
    else:
        state = JobState.PENDING
    starts = [s.start for s in subruns if s.start]
    ends = [s.end for s in subruns if s.end]
    finished = all(s.state.finished for s in subruns)
    return SequenceStatus(
        seq,
        typ,
        run,
        n,
        parent,
        1872 if typ is SequenceType.CALIBRATION else None,
        state,
        frozen_counts(counts),
        max((s.attempt for s in subruns), default=0),
        subruns[0].job_id if subruns else None,
        min(starts) if starts else None,
        max(ends) if finished and ends else None,
    )


def synthetic_night(
    runs: int = 6, subruns: int = 12, *, healthy: bool = True, first_run_subruns: int | None = None
) -> NightSnapshot:
    """One calibration sequence plus ``runs`` data sequences of ``subruns`` subruns each.

    ``first_run_subruns`` gives the first data run another size (the benchmark's 250-subrun run).
    """
    sequences = []
    by_seq: dict[int, tuple[SubrunStatus, ...]] = {}
    calib = (_subrun(0, 1873, 0, JobState.COMPLETED, CALIB_STEPS),)
    by_seq[0] = calib
    sequences.append(sequence_status(0, SequenceType.CALIBRATION, 1873, calib, 1, None))
    for i in range(runs):
        seq, run = i + 1, 1874 + i
        n = first_run_subruns if i == 0 and first_run_subruns else subruns
        rows = tuple(_subrun(seq, run, k, _state_for(seq, k, n, i, runs), DATA_STEPS) for k in range(n))
        by_seq[seq] = rows
        sequences.append(sequence_status(seq, SequenceType.DATA, run, rows, n, 0))
    health = SchedulerHealth(True, None, NOW - dt.timedelta(seconds=12))
    if not healthy:
        health = SchedulerHealth(
            False,
            "sacct: timed out after 30 s (slurmctld not answering)",
            NOW - dt.timedelta(minutes=7, seconds=30),
        )
    return NightSnapshot(
        date=NIGHT,
        backend="slurm",
        profile="simulate",
        simulation=True,
        taken_at=NOW - dt.timedelta(seconds=12),
        health=health,
        sequences=tuple(sequences),
        subruns=by_seq,
        step_names={SequenceType.CALIBRATION: CALIB_STEPS, SequenceType.DATA: DATA_STEPS},
        step_labels=LABELS,
        changed=frozenset(k.key for rows in by_seq.values() for k in rows),
        next_refresh=5.0,
    )


def change_some(snapshot: NightSnapshot, fraction: float, *, seed: int = 1) -> NightSnapshot:
    """The next snapshot: ``fraction`` of the subruns move on (pending→running→completed)."""
    keys = [s.key for rows in snapshot.subruns.values() for s in rows]
    step = max(1, int(1 / fraction))
    chosen = set(keys[seed % step :: step])
    subruns = dict(snapshot.subruns)
    next_state = {JobState.PENDING: JobState.RUNNING, JobState.RUNNING: JobState.COMPLETED}
    touched_seqs = set()
    for seq, rows in snapshot.subruns.items():
        if not any(r.key in chosen for r in rows):
            continue
        touched_seqs.add(seq)
        names = DATA_STEPS if seq else CALIB_STEPS
        subruns[seq] = tuple(
            _subrun(r.seq, r.run, r.subrun, next_state.get(r.state, JobState.FAILED), names)
            if r.key in chosen
            else r
            for r in rows
        )
    sequences = tuple(
        sequence_status(s.seq, s.type, s.run, subruns[s.seq], s.subruns, s.parent)
        if s.seq in touched_seqs
        else s
        for s in snapshot.sequences
    )
    return dataclasses.replace(
        snapshot,
        sequences=sequences,
        subruns=subruns,
        changed=frozenset(chosen),
        taken_at=snapshot.taken_at + dt.timedelta(seconds=5),
    )


class FixedPort:
    """Serves fixed snapshots; actions answer with fixed previews (rendering tests only)."""

    def __init__(self, snapshot: NightSnapshot, logs: dict[SubrunKey, list[LogRef]] | None = None) -> None:
        self._snapshot = snapshot
        self.date = snapshot.date
        self._logs = logs or {}
        self.refreshes = 0
        self.next: list[NightSnapshot] = []
        self.shut = False

    @property
    def snapshot(self) -> NightSnapshot:
        return self._snapshot

    async def refresh(self) -> NightSnapshot:
        self.refreshes += 1
        if self.next:
            self._snapshot = self.next.pop(0)
        else:
            self._snapshot = dataclasses.replace(self._snapshot, changed=frozenset())
        return self._snapshot

    async def submit(self) -> ActionReport:
        return ActionReport("submit", True, "nothing to submit")

    def preview_resubmit(self, selection: Selection) -> ActionPreview:
        return ActionPreview("resubmit", (PlannedSubmission(2, 1875, (3, 17), (2, 2)),))

    async def resubmit(self, selection: Selection) -> ActionReport:
        return ActionReport("resubmit", True, "submitted 2 subruns", ("3001",))

    def preview_cancel(self, selection: Selection) -> ActionPreview:
        return ActionPreview("cancel", cancels=(("1002", (3,)),))

    async def cancel(self, selection: Selection) -> ActionReport:
        return ActionReport("cancel", True, "cancelled")

    def logs(self, key: SubrunKey) -> list[LogRef]:
        return self._logs.get(key, [])

    async def close_night(self, force: bool = False) -> ActionReport:
        return ActionReport("close", False, "not available yet")

    async def push(self) -> ActionReport:
        return ActionReport("push", False, "not available yet")

    def handover(self, html: bool = False) -> str:
        return "# handover\n\nnot available here\n"

    def closing_jobs(self) -> tuple[ClosingJob, ...]:
        return ()

    def shutdown(self) -> None:
        self.shut = True


def log_refs(folder: Path, key: SubrunKey, attempts: int = 2) -> list[LogRef]:
    refs = []
    for attempt in range(1, attempts + 1):
        base = folder / f"seq{key[0]}_{key[1]:04d}_try{attempt}"
        refs.append(
            LogRef(
                attempt,
                f"{1000 * attempt + key[0]}",
                base.with_suffix(".out"),
                base.with_suffix(".err"),
                base.with_suffix(".history"),
            )
        )
    return refs
