"""The engine's memory of a night's tasks and steps, and the snapshots made from it.

Pure with respect to I/O: it is fed ledger rows, scheduler task infos and step rows, and it
builds :class:`NightSnapshot` objects, rebuilding only what changed since the last one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import replace

from osa_core.model.records import Sequence
from osa_core.model.snapshot import (
    NightSnapshot,
    SequenceStatus,
    StepTiming,
    SubrunKey,
    SubrunStatus,
)
from osa_core.model.states import JobState
from osa_core.scheduler.base import TaskInfo
from osa_core.track.frame import Frame
from osa_core.track.ledger import StepRow, TaskRow
from osa_core.track.shown import sequence_status, shown_state

CANCELLED_WAITING = "cancelled before it started"


class NightState:
    def __init__(self, sequences: Iterable[Sequence], tasks: Iterable[TaskRow], steps: Iterable[StepRow]):
        self.sequences: list[Sequence] = []
        self._by_seq: dict[int, Sequence] = {}
        self.attempts: dict[SubrunKey, list[TaskRow]] = {}
        self._by_job: dict[tuple[str, int | None], tuple[SubrunKey, int]] = {}
        self.steps: dict[tuple[int, int, int], list[StepRow]] = {}
        self._subruns: dict[SubrunKey, SubrunStatus] = {}
        self._last_subruns: dict[int, tuple[SubrunStatus, ...]] = {}
        self._last_status: dict[int, SequenceStatus] = {}
        # Kept up to date as rows arrive, so that no refresh scans the night for them:
        self._unfinished: dict[str, dict[int | None, JobState]] = {}
        """job id -> array index -> state of its task rows (any attempt) not finished: what the
        scheduler may still change."""
        self._running: set[SubrunKey] = set()
        """Subruns whose latest attempt runs."""
        self._active: set[SubrunKey] = set()
        """Subruns whose latest attempt is pending, blocked or running."""
        self._folded: dict[tuple[str, int | None], TaskInfo] = {}
        """The scheduler's answer last folded in per task: the same object again changes nothing."""
        self.set_sequences(sequences)
        for task in tasks:
            self._put_task(task)
        for step in steps:
            self._put_step(step)

    # --- feeding ---------------------------------------------------------------------------------
    def set_sequences(self, sequences: Iterable[Sequence]) -> None:
        self.sequences = sorted(sequences, key=lambda s: s.seq)
        self._by_seq = {s.seq: s for s in self.sequences}

    def sequence(self, seq: int) -> Sequence:
        return self._by_seq[seq]

    def _put_task(self, task: TaskRow) -> None:
        key = (task.seq, task.subrun)
        rows = self.attempts.get(key)
        if rows is None:
            rows = self.attempts[key] = [task]
        else:
            for i, row in enumerate(rows):
                if row.attempt == task.attempt:
                    if not row.state.finished:
                        self._unfinish(row, False)
                    rows[i] = task
                    break
            else:
                rows.append(task)
                rows.sort(key=lambda r: r.attempt)
        if not task.state.finished:
            self._unfinish(task, True)
        latest = rows[-1].state
        if latest is JobState.RUNNING:
            self._running.add(key)
        else:
            self._running.discard(key)
        if latest.active:
            self._active.add(key)
        else:
            self._active.discard(key)
        self._by_job[(task.job_id, task.array_index)] = (key, task.attempt)

    def _unfinish(self, task: TaskRow, add: bool) -> None:
        """Count ``task`` among its job's unfinished ones (``add``), or no longer."""
        tasks = self._unfinished.get(task.job_id)
        if add:
            if tasks is None:
                tasks = self._unfinished[task.job_id] = {}
            tasks[task.array_index] = task.state
        elif tasks is not None:
            tasks.pop(task.array_index, None)
            if not tasks:
                del self._unfinished[task.job_id]

    def _put_step(self, step: StepRow) -> None:
        rows = self.steps.setdefault((step.seq, step.subrun, step.attempt), [])
        for i, row in enumerate(rows):
            if row.step == step.step:
                rows[i] = step
                break
        else:
            rows.append(step)

    def add_tasks(self, tasks: Iterable[TaskRow]) -> set[SubrunKey]:
        changed = set()
        for task in tasks:
            if (task.job_id, task.array_index) in self._by_job:
                # a known row rewritten from the ledger, not from an answer: compare the next
                # answer in full (single jobs may have been answered under an index)
                self._folded.clear()
            self._put_task(task)
            changed.add((task.seq, task.subrun))
        return changed

    def add_steps(self, steps: Iterable[StepRow]) -> set[SubrunKey]:
        changed = set()
        for step in steps:
            self._put_step(step)
            changed.add((step.seq, step.subrun))
        return changed

    def apply(self, infos: Iterable[TaskInfo]) -> list[TaskRow]:
        """Fold one scheduler answer in; return the task rows that changed."""
        changed: list[TaskRow] = []
        folded = self._folded
        for info in infos:
            ident = (info.job_id, info.array_index)
            # The scheduler's parse cache hands back the very object of an unchanged line:
            # skipped before any other work.
            if folded.get(ident) is info:
                continue
            if info.array_index is None and ident not in self._by_job:
                for each in self._cancelled_range(info):
                    self._fold((each.job_id, each.array_index), each, changed)
                folded[ident] = info
                continue
            self._fold(ident, info, changed)
        return changed

    def _fold(self, ident: tuple[str, int | None], info: TaskInfo, changed: list[TaskRow]) -> None:
        found = self._by_job.get(ident)
        if found is None and info.array_index is not None:
            found = self._by_job.get((info.job_id, None))
        if found is None:
            return
        self._folded[ident] = info
        key, attempt = found
        old = next(r for r in self.attempts[key] if r.attempt == attempt)
        node = info.node or old.node
        start = info.start or old.start
        usage = info.usage or old.usage
        # Most tasks do not change between two refreshes: compare before building anything.
        if (
            old.state is info.state
            and old.end == info.end
            and old.exit_code == info.exit_code
            and old.reason == info.reason
            and old.start == start
            and old.node == node
            and old.signal == info.signal
            and old.usage == usage
        ):
            return
        new = TaskRow(
            old.seq,
            old.subrun,
            old.attempt,
            old.job_id,
            old.array_index,
            info.state,
            info.exit_code,
            info.signal,
            node,
            start,
            info.end,
            info.reason,
            usage,
        )
        self._put_task(new)
        changed.append(new)

    def _cancelled_range(self, info: TaskInfo) -> list[TaskInfo]:
        """An array cancelled before any task started is one line without an index in sacct:
        it speaks for every index of that array still waiting.

        (Only a cancellation: sacct also shows a transient index-less line for an array whose
        tasks are being recorded, which must not speak for them.)
        """
        if info.state is not JobState.CANCELLED:
            return []
        waiting = [
            index
            for (job, index), (key, attempt) in self._by_job.items()
            if job == info.job_id
            and index is not None
            and self.latest(key) is not None
            and self.latest(key).attempt == attempt  # type: ignore[union-attr]
            and self.latest(key).state.active  # type: ignore[union-attr]
        ]
        return [replace(info, array_index=index) for index in waiting]

    def cancelled_waiting(
        self, cancels: Iterable[tuple[str, tuple[int, ...] | None]], at: dt.datetime
    ) -> list[TaskInfo]:
        """What scancel has just taken from waiting arrays, said as the scheduler would say it.

        Slurm keeps no line for an index cancelled while its array is one pending range: in sacct
        the range just shrinks (``123_[0-1]`` becomes ``123_[0]``) and squeue no longer lists the
        index, so no answer would ever end that task. These are the tasks the engine last saw
        pending; one that had started or ended meanwhile gets its real line from the next answer.
        """
        wanted = dict(cancels)
        out = []
        for (job, index), (key, attempt) in self._by_job.items():
            if job not in wanted:
                continue
            indices = wanted[job]
            if indices is not None and index not in indices:
                continue
            latest = self.latest(key)
            if latest is not None and latest.attempt == attempt and latest.state is JobState.PENDING:
                out.append(TaskInfo(job, index, "", JobState.CANCELLED, end=at, reason=CANCELLED_WAITING))
        return out

    # --- questions -------------------------------------------------------------------------------
    def latest(self, key: SubrunKey) -> TaskRow | None:
        rows = self.attempts.get(key)
        return rows[-1] if rows else None

    def keys(self, seq: int) -> list[SubrunKey]:
        sequence = self._by_seq[seq]
        count = 1 if sequence.is_calibration else sequence.subruns
        return [(seq, i) for i in range(count)]

    def calibration_failed(self, seq: int | None) -> bool:
        if seq is None or seq not in self._by_seq:
            return False
        task = self.latest((seq, 0))
        return task is not None and task.state.failed

    def active_job_ids(self) -> set[str]:
        """Jobs of the subruns whose latest attempt is pending, blocked or running."""
        return {self.attempts[key][-1].job_id for key in self._active}

    def unfinished_job_ids(self) -> set[str]:
        """Jobs with a task (of any attempt) not finished yet: all the scheduler may still change,
        short of a correction after the fact (a requeue), which only a full sweep sees."""
        return set(self._unfinished)

    def unfinished_tasks(self) -> Mapping[str, Mapping[int | None, JobState]]:
        """The unfinished tasks of each of those jobs: array index -> state (read-only: a view
        kept up to date as rows arrive)."""
        return self._unfinished

    def has_active(self) -> bool:
        return bool(self._active)

    def has_running(self) -> bool:
        return bool(self._running)

    def running_keys(self) -> set[SubrunKey]:
        """Subruns whose latest attempt runs (a copy)."""
        return set(self._running)

    # --- snapshots -------------------------------------------------------------------------------
    def subrun_status(self, key: SubrunKey) -> SubrunStatus:
        seq, subrun = key
        sequence = self._by_seq[seq]
        task = self.latest(key)
        if task is None:
            return SubrunStatus(seq, sequence.run, subrun, JobState.NOT_SUBMITTED, 0)
        steps = tuple(
            StepTiming(
                name=s.step,
                start=s.start,
                end=s.end,
                exit_code=s.exit_code,
                skipped=s.skipped,
                detail=s.detail,
            )
            for s in self.steps.get((seq, subrun, task.attempt), ())
        )
        state, reason = shown_state(
            task.state,
            task.reason,
            steps,
            task.exit_code,
            task.signal,
            sequence.parent,
            self.calibration_failed,
        )
        return SubrunStatus(
            seq=seq,
            run=sequence.run,
            subrun=subrun,
            state=state,
            attempt=task.attempt,
            job_id=task.job_id,
            exit_code=task.exit_code,
            node=task.node,
            start=task.start,
            end=task.end,
            reason=reason,
            steps=steps,
            attempts=tuple((r.attempt, r.job_id) for r in self.attempts[key]),
            usage=task.usage,
        )

    def snapshot(self, frame: Frame, changed: set[SubrunKey] | None) -> NightSnapshot:
        """``changed`` None rebuilds every subrun (the first snapshot)."""
        if changed is None:
            self._subruns.clear()
            self._last_status.clear()
            changed = {key for s in self.sequences for key in self.keys(s.seq)}
        # A sequence new since the last snapshot has no subrun status yet.
        for s in self.sequences:
            if s.seq not in self._last_subruns:
                changed.update(self.keys(s.seq))
        # A calibration's change can turn its children BLOCKED or back.
        calibrations = {
            seq for seq, _ in changed if self._by_seq.get(seq) and self._by_seq[seq].is_calibration
        }
        if calibrations:
            for s in self.sequences:
                if s.parent in calibrations:
                    changed.update(self.keys(s.seq))
        for key in changed:
            if key[0] in self._by_seq:
                self._subruns[key] = self.subrun_status(key)
        subruns: dict[int, tuple[SubrunStatus, ...]] = {}
        statuses = []
        touched = {seq for seq, _ in changed}
        previous = self._last_subruns
        for sequence in self.sequences:
            old_status = self._last_status.get(sequence.seq)
            if sequence.seq in touched or sequence.seq not in previous or old_status is None:
                subruns[sequence.seq] = tuple(self._subruns[k] for k in self.keys(sequence.seq))
                status = sequence_status(sequence, subruns[sequence.seq])
            else:
                subruns[sequence.seq] = previous[sequence.seq]
                status = old_status
            statuses.append(status)
            self._last_status[sequence.seq] = status
        self._last_subruns = subruns
        return frame.snapshot(tuple(statuses), subruns, frozenset(changed))
