"""A mutation's intents: written before the scheduler is told, recovered by the next mutation.

Every mutation that talks to the scheduler writes what it is about to do to the ledger first,
tells the scheduler, then records the answer. A process killed in between leaves an open
intent, and the next mutation of any kind (submit, resubmit, cancel, close; the console's
actions go through the same engine) recovers every open intent, holding the night's lock,
before it acts. One rule per kind of intent:

- a **job submission** (``submissions`` rows still ``submitting``; the closer's merge
  submissions use the same finder): the job is looked for in the scheduler's accounting by its
  night-tagged name, submitted no earlier than the intent, among the jobs the ledger does not
  know. Found: recorded as if sbatch had answered. Not found: sbatch never ran (lost).
- a **cancel**: replayed. Cancelling what has already ended changes nothing; what was still
  waiting is recorded cancelled (the accounting may keep no line for it).
- a **re-arm** (data jobs waiting on a failed calibration now wait on its new job), intended
  before the calibration's sbatch: replayed for the data jobs that still wait, on the
  calibration job submitted after the intent (recovered above, if that was cut off too).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from osa_core.model.errors import SchedulerError, SchedulerUnreachable
from osa_core.model.faults import kill_point
from osa_core.model.states import JobState
from osa_core.scheduler.base import QUERY_SLACK, Scheduler, TaskInfo, utcnow
from osa_core.track.ledger import Ledger
from osa_core.track.tracking import NightState

log = logging.getLogger("osa.intents")

SUBMIT_SKEW = dt.timedelta(seconds=5)
"""sacct's submit times are whole seconds, and a cluster's clocks agree only so far."""
RECOVERY_WAIT = 6.0
"""How long a recovery asks the accounting database again for a job sbatch may have created."""
RECOVERY_GRACE = 30.0
"""...and until the intent is at least this old: slurmctld tells slurmdbd late when it is busy.

Seen on the shared test cluster: with other nights' jobs flowing, a job sbatch had created was
not yet in sacct 6 s after the intent, was called lost, and its subruns were submitted twice.
"""


def find_job(infos: Sequence[TaskInfo], name: str, not_before: dt.datetime, known: set[str]) -> str | None:
    """The job a cut-off submission created: its name, submitted after the intent, not yet known.

    The name is shared by every copy of this night (another production, a test): only a job
    submitted after the intent was written can be ours, and of those the first.
    """
    floor = not_before - SUBMIT_SKEW
    candidates = sorted(
        {
            i.job_id
            for i in infos
            if i.name == name and i.job_id not in known and (i.submit is None or i.submit >= floor)
        },
        key=lambda j: int(j) if j.isdigit() else 0,
    )
    return candidates[0] if candidates else None


@dataclass
class Recovered:
    """What a recovery did, for the engine's state and the operator's log."""

    lines: list[str] = field(default_factory=list)
    scheduler_calls: int = 0

    def __bool__(self) -> bool:
        return bool(self.lines)


class Intents:
    """The night's intents over one ledger and one scheduler."""

    def __init__(
        self, ledger: Ledger, scheduler: Scheduler, wait: float = RECOVERY_WAIT, grace: float = RECOVERY_GRACE
    ) -> None:
        self.ledger = ledger
        self.scheduler = scheduler
        self.wait = wait
        self.grace = grace

    # --- recovery ------------------------------------------------------------------------------
    async def recover(self, state: NightState) -> Recovered:
        """Settle every open intent of the night; the caller holds the night's lock."""
        done = Recovered()
        await self._submissions(done)
        for intent in self.ledger.open_intents():
            note = "replayed after a crash"
            if intent.kind == "cancel":
                cancels = [(str(j), None if i is None else tuple(i)) for j, i in intent.payload["cancels"]]
                await self._cancel(cancels, state, done)
            elif intent.kind == "rearm":
                note = await self._rearm(state, intent.begun_at, intent.payload, done)
            self.ledger.finish_intent(intent.id, note)
            self._said(done, f"{intent.kind} begun at {intent.begun_at:%H:%M:%S} after a crash: {note}")
        return done

    async def _submissions(self, done: Recovered) -> None:
        """Submissions begun but not completed: did sbatch run before the crash?

        The accounting database shows a new job a second or two late (much later when the
        controller is busy), so an empty answer is asked again for ``wait`` seconds, and until
        the intent is ``grace`` seconds old, before the submission is called lost.
        """
        open_subs = self.ledger.submissions("submitting")
        if not open_subs:
            return
        since = min(s.submitted_at for s in open_subs) - QUERY_SLACK
        names = sorted({s.name for s in open_subs})
        known = {s.job_id for s in self.ledger.submissions() if s.job_id}
        age = (utcnow() - min(s.submitted_at for s in open_subs)).total_seconds()
        deadline = time.monotonic() + max(self.wait, min(self.grace - age, self.grace))
        while True:
            done.scheduler_calls += 1
            infos = await self.scheduler.query(names, since)
            found: dict[int, str | None] = {}
            taken = set(known)
            for sub in open_subs:  # in the order they were begun: the first intent, the first job
                job = found[sub.id] = find_job(infos, sub.name, sub.submitted_at, taken)
                if job is not None:
                    taken.add(job)
            if all(found.values()) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(1.0)
        for sub in open_subs:
            job_id = found[sub.id]
            if job_id is None:
                self.ledger.abandon_submission(sub.id, "sbatch did not run before the crash")
                self._said(done, f"submission of seq {sub.seq} begun before a crash never reached sbatch")
                continue
            self.ledger.complete_submission(sub.id, job_id, note="recovered through its night tag")
            self._said(done, f"job {job_id} of seq {sub.seq} found after a crash", kind="recover")

    # --- cancel ------------------------------------------------------------------------------------
    async def cancel(self, cancels: Sequence[tuple[str, tuple[int, ...] | None]], state: NightState) -> None:
        """Cancel jobs (or some indices), the intent first: a crash midway is finished next time.

        The tasks still waiting are recorded cancelled once scancel has taken them: the
        accounting may never say so (:meth:`NightState.cancelled_waiting`).
        """
        intent = self.ledger.begin_intent("cancel", {"cancels": [[j, i] for j, i in cancels]}, utcnow())
        kill_point("cancel-intent")
        for job_id, indices in cancels:
            await self.scheduler.cancel(job_id, indices)
            kill_point("cancel-sent")
        self._record_cancelled(state, cancels)
        self.ledger.finish_intent(intent)

    async def _cancel(
        self, cancels: Sequence[tuple[str, tuple[int, ...] | None]], state: NightState, done: Recovered
    ) -> None:
        taken = []
        for job_id, indices in cancels:
            try:
                await self.scheduler.cancel(job_id, indices)
            except SchedulerUnreachable:
                raise
            except SchedulerError as exc:  # it ended meanwhile: nothing left to cancel
                log.info("replayed cancel of job %s: %s", job_id, exc)
            else:
                taken.append((job_id, indices))
            done.scheduler_calls += 1
        self._record_cancelled(state, taken)

    def _record_cancelled(
        self, state: NightState, cancels: Sequence[tuple[str, tuple[int, ...] | None]]
    ) -> None:
        rows = state.apply(state.cancelled_waiting(cancels, utcnow()))
        if rows:
            self.ledger.update_tasks(rows)

    # --- re-arm --------------------------------------------------------------------------------------
    def begin_rearm(self, state: NightState, calibration_seq: int) -> int | None:
        """Before a calibration is resubmitted: the data jobs waiting on it are to wait on the new job.

        Written before sbatch runs, so that a crash at any later point (the calibration's job
        recovered or recorded, some data jobs re-armed) ends with all of them re-armed.
        """
        children = _waiting_children(state, calibration_seq)
        if not children:
            return None
        payload = {"calibration_seq": calibration_seq, "children": children}
        return self.ledger.begin_intent("rearm", payload, utcnow())

    async def rearm(self, intent_id: int, job_id: str) -> None:
        """Data jobs waiting on the calibration now wait on its new job ``job_id`` (no new jobs)."""
        intent = next(i for i in self.ledger.open_intents() if i.id == intent_id)
        kill_point("rearm-intent")
        for child in intent.payload["children"]:
            await self.scheduler.set_dependency(child, (job_id,))
            self.ledger.log_event("rearm", f"job {child} now waits on calibration job {job_id}")
            kill_point("rearm-sent")
        self.ledger.finish_intent(intent_id)

    async def _rearm(
        self, state: NightState, begun: dt.datetime, payload: dict[str, Any], done: Recovered
    ) -> str:
        """Replay a re-arm on the calibration job submitted after it was intended, if there is one."""
        seq = int(payload["calibration_seq"])
        jobs = [
            s.job_id
            for s in self.ledger.submissions("submitted")
            if s.seq == seq and s.job_id and s.submitted_at >= begun
        ]
        if not jobs:
            return "the calibration was never resubmitted: nothing to re-arm"
        waiting = {t.job_id for rows in state.attempts.values() for t in rows[-1:] if t.state.active}
        for child in payload["children"]:
            if child not in waiting:
                continue  # it started, ended or was cancelled meanwhile
            try:
                await self.scheduler.set_dependency(child, (jobs[-1],))
            except SchedulerUnreachable:
                raise
            except SchedulerError as exc:
                log.info("replayed re-arm of job %s: %s", child, exc)
            done.scheduler_calls += 1
        return f"re-armed on calibration job {jobs[-1]}"

    def _said(self, done: Recovered, line: str, kind: str = "recover") -> None:
        done.lines.append(line)
        self.ledger.log_event(kind, line)
        log.warning("%s", line)


def _waiting_children(state: NightState, calibration_seq: int) -> list[str]:
    waiting: set[str] = set()
    for sequence in state.sequences:
        if sequence.parent != calibration_seq:
            continue
        for key in state.keys(sequence.seq):
            task = state.latest(key)
            if task is not None and task.state in (JobState.PENDING, JobState.BLOCKED):
                waiting.add(task.job_id)
    return sorted(waiting)
