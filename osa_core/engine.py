"""The engine: one night's plan, submissions, refreshes and actions, over one scheduler.

Front ends (the CLI, the console, cron) hold an :class:`Engine` and read its snapshots. Every
mutation holds the night's lock; every refresh is one scheduler query plus the step records
written since the last one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from osa_core.jobs.scripts import render_script
from osa_core.model.actions import ActionPreview, ActionReport, LogRef, PlannedSubmission, Selection
from osa_core.model.closestate import ClosingJob
from osa_core.model.config import Config
from osa_core.model.errors import OsaError, SchedulerError, SchedulerUnreachable
from osa_core.model.faults import kill_point
from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.model.records import Plan, Sequence
from osa_core.model.snapshot import NightSnapshot, SchedulerHealth, SubrunKey
from osa_core.model.states import JobState
from osa_core.pipeline.factory import get_profile
from osa_core.pipeline.runcatalog import night_sources
from osa_core.pipeline.stages import check_plan
from osa_core.plan.inputs import check_submission_inputs
from osa_core.plan.planner import configured_plan
from osa_core.scheduler.base import Scheduler, TaskInfo, utcnow
from osa_core.scheduler.factory import make_scheduler
from osa_core.scheduler.requests import sequence_request
from osa_core.track import activity, previews
from osa_core.track.closing_jobs import closing_jobs
from osa_core.track.frame import Frame
from osa_core.track.frame import Profile as ShownProfile
from osa_core.track.history_ingest import HistoryIngest, log_refs
from osa_core.track.intents import Intents
from osa_core.track.ledger import Ledger
from osa_core.track.ledger_snapshot import live_tasks, read_snapshot
from osa_core.track.lock import night_lock
from osa_core.track.scope import SWEEP_META, QueryScope, ask, next_interval
from osa_core.track.tracking import NightState

log = logging.getLogger("osa.engine")


class Engine:
    def __init__(
        self, config: Config, date: dt.date, scheduler: Scheduler | None = None, *, narrow: bool = False
    ):
        self.config = config
        self.date = date
        self.layout = NightLayout(config, date)
        self.profile = get_profile(config)
        self.scheduler = scheduler or make_scheduler(config)
        self.ledger = Ledger(
            self.layout.ledger_path,
            rebuild_hint=f"rebuild it with `osa-core ledger rebuild --date {date.isoformat()}`"
            " (the damaged file is kept beside it)",
        )
        self.intents = Intents(self.ledger, self.scheduler)
        self.narrow = narrow  # only what a refresh can change; snapshots from the ledger (cold status)
        tasks = live_tasks(self.ledger) if narrow else self.ledger.tasks()
        self.state = NightState(self.ledger.sequences(), tasks, () if narrow else self.ledger.steps())
        self._health = SchedulerHealth(ok=True)
        self._interval = config.scheduler.refresh_min
        self._snapshot: NightSnapshot | None = None
        self.scope = QueryScope()
        """Which jobs each refresh asks about; ``scope.every`` is the full sweeps' cadence."""
        self.scope.load(self.ledger.submissions(), self.ledger.get_meta(SWEEP_META))
        self.scheduler_calls = 0
        self.history = HistoryIngest(self.layout, self.ledger)
        self._guard = asyncio.Lock()
        self._follow_close = False
        self._problems: tuple[str, ...] = ()
        self._in_close = False

    def shutdown(self) -> None:
        """Release the scheduler and the ledger; the engine is not used afterwards."""
        try:
            self.scheduler.close()
        finally:
            self.ledger.close()

    # --- plan --------------------------------------------------------------------------------------
    def plan(self) -> Plan:
        """The night's plan from its night file, with the simulate profile's subrun cap applied."""
        return configured_plan(self.config, self.layout)

    # --- snapshots -----------------------------------------------------------------------------------
    @property
    def snapshot(self) -> NightSnapshot:
        if self._snapshot is None:
            self._snapshot = self._build(None)
        return self._snapshot

    def _build(self, changed: set[SubrunKey] | None) -> NightSnapshot:
        if self.narrow:
            return read_snapshot(self.ledger, self.state.sequences, self.frame())
        return self.state.snapshot(self.frame(), changed)

    def frame(self) -> Frame:
        """What a snapshot holds besides its subruns: night, backend, profile, health, time, notes."""
        return Frame(
            date=self.date,
            backend=self.config.scheduler.backend,
            profile=ShownProfile.of(self.profile),
            health=self._health,
            now=utcnow(),
            closing=(record.status or None) if (record := self.ledger.closing()) else None,
            next_refresh=self._interval,
            problems=self._problems,
            **activity.notes(self.ledger),
            sources=night_sources(self.config, self.layout.night),
        )

    async def refresh(self, full: bool = False) -> NightSnapshot:
        """At most one scheduler query, then the step records written since last time.

        The query asks only about jobs with an unfinished task, and about every job of the
        night in a full sweep (``full``, or at the cadence of :mod:`osa_core.track.scope`); a
        night whose jobs are all finished asks nothing. An unreachable scheduler does not
        raise: the snapshot says so and keeps the last states. Ledger writes and file reads run
        in a worker thread, so a front end's event loop (the console's) never waits on a slow
        disk; refreshes and actions never overlap.
        """
        async with self._guard:
            await self._refresh(full)
            snapshot = self.snapshot
        if self._follow_close and not self._in_close:
            # A closing this engine started goes on at each refresh (merges are jobs: each
            # round only looks at them and carries finished ones on), as ``close --wait`` does.
            try:
                await self.close_night()
            except OsaError as exc:
                log.warning("closing round skipped: %s", exc)
            snapshot = self.snapshot
        return snapshot

    async def sync(self) -> None:  # a narrow engine's refresh, no snapshot built (track/status_rows.py)
        async with self._guard:
            await self._refresh()

    async def _refresh(self, full: bool = False) -> None:
        if not self.state.sequences:
            await asyncio.to_thread(self._adopt_plan)
        now = utcnow()
        query = self.scope.query(self.state.unfinished_tasks(), now, full, self.scheduler.task_ids)
        infos = None
        if query is not None:
            self.scheduler_calls += 1
            infos, self._health = await ask(self.scheduler, query, self.state.has_active(), self._health)
        elif not self.scope.jobs:
            self._health = SchedulerHealth(ok=True, last_ok=utcnow())
        # else: every job finished, nothing was asked: the last answer's health stands
        swept = now if query is not None and query.full and infos is not None else None
        self._snapshot = await asyncio.to_thread(self._fold, infos, swept)

    def _fold(self, infos: list[TaskInfo] | None, swept: dt.datetime | None = None) -> NightSnapshot | None:
        changed: set[SubrunKey] = set()
        if swept is not None:
            self.scope.swept(swept)
            self.ledger.set_meta(SWEEP_META, swept.isoformat())
        if infos is not None:
            if swept is not None and self.narrow:  # a sweep answers for every task: fold them all
                self.state.add_tasks(self.ledger.tasks())
            rows = self.state.apply(infos)
            if rows:
                self.ledger.update_tasks(rows)
                changed.update((r.seq, r.subrun) for r in rows)
        changed |= self.history.ingest(self.state, changed)
        self._interval = next_interval(self._interval, bool(changed) or self.state.has_running(), self.config)
        # A narrow engine's snapshot is read from the ledger when asked for (the property), if ever.
        return None if self.narrow else self._build(changed if self._snapshot is not None else None)

    def _adopt_plan(self) -> None:
        """Before the first submission the night is its plan: every subrun NOT_SUBMITTED."""
        try:
            plan = self.plan()
        except OsaError as exc:
            log.warning("no plan yet: %s", exc)
            self._problems = (str(exc),)
            return
        self._problems = plan.problems
        self.ledger.sync_plan(plan.sequences)
        self.state.set_sequences(self.ledger.sequences())
        self._snapshot = None

    def logs(self, key: SubrunKey) -> list[LogRef]:
        return log_refs(self.layout, self.state, key)

    # --- submission ----------------------------------------------------------------------------------
    @contextmanager
    def _lock(self, what: str) -> Iterator[None]:
        """Hold the night's lock, then re-read the ledger: another process may have just written it."""
        with night_lock(self.layout.lock_path, what=what):
            self._reload()
            yield

    @asynccontextmanager
    async def _mutation(self, what: str) -> AsyncIterator[None]:
        """An action: no refresh runs meanwhile in this process, nor a mutation in any other."""
        async with self._guard:
            lock = self._lock(what)
            # Another process may hold the lock for a while: wait in a thread, not on the loop.
            await asyncio.to_thread(lock.__enter__)
            try:
                await self._recover_intents()
                yield
            except BaseException as exc:
                if not lock.__exit__(type(exc), exc, exc.__traceback__):
                    raise
            else:
                lock.__exit__(None, None, None)

    def _reload(self) -> None:
        self.narrow = False  # under the lock, the whole night: a narrow engine that acts becomes whole
        self.state = NightState(self.ledger.sequences(), self.ledger.tasks(), self.ledger.steps())
        self.history.reload()
        self.scope.load(self.ledger.submissions(), self.ledger.get_meta(SWEEP_META))
        self._snapshot = None

    async def submit(self, runs: frozenset[int] | None = None) -> ActionReport:
        """Plan the night and submit what was never submitted (of the ``runs`` named, by their run)."""
        # Both read files (bounded, but up to a deadline on a stalled mount): off the event loop.
        plan = await asyncio.to_thread(self.plan)
        await asyncio.to_thread(check_submission_inputs, self.config, self.layout)
        await asyncio.to_thread(check_plan, self.profile, self.layout, plan, runs)
        async with self._mutation("submit"):
            self.ledger.sync_plan(plan.sequences)
            self.state.set_sequences(self.ledger.sequences())
            self.ledger.set_meta("night_file", str(self.layout.night_summary))
            await self._refresh_or_raise()
            self.layout.make_dirs()
            self.profile.prepare(self.layout)
            job_ids: list[str] = []
            details: list[str] = []
            calib_jobs: dict[int, str] = {}
            for sequence in self.state.sequences:
                if not sequence.is_calibration or (runs is not None and sequence.run not in runs):
                    continue
                task = self.state.latest((sequence.seq, 0))
                if task is None:
                    job = await self._submit(sequence, None, (1,))
                    job_ids.append(job)
                    details.append(f"calibration seq {sequence.seq} (run {sequence.run:05d}): job {job}")
                    calib_jobs[sequence.seq] = job
                elif not task.state.finished or task.state is JobState.COMPLETED:
                    calib_jobs[sequence.seq] = task.job_id
            for sequence in self.state.sequences:
                if sequence.is_calibration or (runs is not None and sequence.run not in runs):
                    continue
                todo = tuple(
                    i for i in range(sequence.subruns) if self.state.latest((sequence.seq, i)) is None
                )
                if not todo:
                    continue
                after = previews.parent_dependency(self.state, sequence)
                job = await self._submit(sequence, todo, (1,) * len(todo), after_ok=after)
                job_ids.append(job)
                details.append(
                    f"data seq {sequence.seq} (run {sequence.run:05d}): {len(todo)} subruns, job {job}"
                    + (f", after {','.join(after)}" if after else "")
                )
            message = f"submitted {len(job_ids)} job(s)" if job_ids else "nothing to submit"
            self.ledger.log_event("submit", message + ("; " + "; ".join(details) if details else ""))
        self._snapshot = self._build(None)
        return ActionReport("submit", True, message, tuple(job_ids), tuple(details))

    async def _refresh_or_raise(self) -> None:
        await self._refresh()
        if not self._health.ok:
            raise SchedulerUnreachable(f"cannot submit: {self._health.error}")

    async def _submit(
        self,
        sequence: Sequence,
        indices: tuple[int, ...] | None,
        attempts: tuple[int, ...],
        *,
        after_ok: tuple[str, ...] = (),
        planned: PlannedSubmission | None = None,
    ) -> str:
        parent = self.state.sequence(sequence.parent) if sequence.parent is not None else None
        script = self.layout.script(sequence.run)
        text = render_script(self.config, self.layout, sequence, parent)
        atomic_write(script, text, mode=0o755, durable=False)
        request = sequence_request(
            self.config,
            self.layout,
            sequence,
            script,
            indices,
            attempts,
            after_ok=after_ok,
            memory=planned.memory if planned else None,  # raised after out-of-memory / a timeout
            walltime=planned.walltime if planned else None,
            exclude=planned.exclude if planned else (),
        )
        at = utcnow()
        sub_id = self.ledger.begin_submission(
            seq=sequence.seq,
            name=request.name,
            indices=request.array,
            attempts=attempts,
            script=str(script),
            memory=request.memory,
            walltime=request.walltime,
            after_ok=after_ok,
            at=at,
        )
        kill_point("submission-intent")
        try:
            job_id = await self.scheduler.submit(request)
        except SchedulerError as exc:
            self.ledger.abandon_submission(sub_id, str(exc))
            raise
        kill_point("submission-sent")
        self.ledger.complete_submission(sub_id, job_id)
        kill_point("submission-recorded")
        self._reload_tasks(job_id, request.name, at)
        log.info("submitted seq %s run %05d as job %s", sequence.seq, sequence.run, job_id)
        return job_id

    def _reload_tasks(self, job_id: str, name: str, submitted_at: dt.datetime) -> None:
        """Read back the rows a submission just recorded (only its own: linear in the night)."""
        self.state.add_tasks(tasks := self.ledger.tasks(job_id))
        self.scope.add(job_id, name, submitted_at, len(tasks))

    async def _recover_intents(self) -> None:
        """Before any mutation acts: settle what a killed one left half done (track/intents.py)."""
        recovered = await self.intents.recover(self.state)
        self.scheduler_calls += recovered.scheduler_calls
        if recovered:
            self._reload()

    # --- resubmission and cancellation ------------------------------------------------------------------
    def preview_resubmit(self, selection: Selection) -> ActionPreview:
        """Exactly what :meth:`resubmit` would submit now, and what it would refuse and why."""
        return previews.resubmit_preview(
            self.state, self.snapshot, self.config.scheduler, self.ledger.submissions(), selection
        )

    async def resubmit(self, selection: Selection) -> ActionReport:
        await asyncio.to_thread(check_submission_inputs, self.config, self.layout)
        async with self._mutation("resubmit"):
            await self._refresh_or_raise()
            preview = self.preview_resubmit(selection)
            if not preview.submissions:
                msg = "nothing to resubmit"
                if preview.refused:
                    msg += f" ({len(preview.refused)} refused)"
                return ActionReport("resubmit", False, msg, (), tuple(preview.lines()))
            job_ids = []
            new_jobs: dict[int, str] = {}
            for planned in preview.submissions:
                sequence = self.state.sequence(planned.seq)
                after_ok = planned.after_ok
                if planned.after_seq is not None:
                    after_ok = (*after_ok, new_jobs[planned.after_seq])
                # the re-arm is intended before the calibration's sbatch: a crash anywhere after
                # it still ends with its waiting data jobs re-armed (track/intents.py)
                rearm = (
                    self.intents.begin_rearm(self.state, sequence.seq) if sequence.is_calibration else None
                )
                job = await self._submit(
                    sequence,
                    planned.indices if not sequence.is_calibration else None,
                    planned.attempts,
                    after_ok=after_ok,
                    planned=planned,
                )
                job_ids.append(job)
                new_jobs[planned.seq] = job
                if rearm is not None:
                    await self.intents.rearm(rearm, job)
            lines = preview.lines()
            self.ledger.log_event("resubmit", "; ".join(lines))
        self._snapshot = self._build(None)
        return ActionReport(
            "resubmit", True, f"resubmitted as job(s) {', '.join(job_ids)}", tuple(job_ids), tuple(lines)
        )

    def preview_cancel(self, selection: Selection) -> ActionPreview:
        return previews.cancel_preview(self.state, selection)

    async def cancel(self, selection: Selection) -> ActionReport:
        async with self._mutation("cancel"):
            preview = self.preview_cancel(selection)
            if preview.cancels:
                await self.intents.cancel(preview.cancels, self.state)
                self._snapshot = None  # the waiting tasks it took are recorded cancelled
            lines = preview.lines()
            if lines:
                self.ledger.log_event("cancel", "; ".join(lines))
        await self.refresh()
        if preview.empty:
            return ActionReport(
                "cancel", False, "nothing to cancel: no selected subrun is pending or running"
            )
        return ActionReport("cancel", True, f"cancelled {len(preview.cancels)} job(s)", (), tuple(lines))

    # --- end of night ------------------------------------------------------------------------------------
    async def close_night(self, force: bool = False) -> ActionReport:
        """One round of the closing (osa_core/close/closer.py): submit due merges, carry finished ones on.

        Never waits for a merge job; ok=False with the list of what is missing when the night is
        not complete (and not ``force``). Call it again to advance; the snapshot's ``closing``
        says where it stands.
        """
        from osa_core.close.closer import Closer, close_phase

        self._in_close = True
        try:
            with self._lock("close"):
                if self.ledger.closing() is None:
                    # Before the night is judged complete, the scheduler's last word on every job.
                    self.scope.request_sweep()
                await self._recover_intents()
                report = await Closer(self).advance(force)
        finally:
            self._in_close = False
        self._follow_close = report.ok and close_phase(self)[0] == "closing"
        self._snapshot = self._build(None)
        return report

    async def preview_close(self, force: bool = False) -> ActionReport:
        """What :meth:`close_night` would do now (``close --dry-run``); changes nothing."""
        from osa_core.close.closer import Closer

        if self.ledger.closing() is None:
            self.scope.request_sweep()
        return await Closer(self).preview(force)

    def handover(self, html: bool = False) -> str:  # the shift's report (publish/handover.py)
        from osa_core.publish.publisher import handover_text

        return handover_text(self.layout, self.snapshot, html=html)

    def closing_jobs(self) -> tuple[ClosingJob, ...]:  # each merge job's steps, then the night-wise job's
        return closing_jobs(self.layout, [r.run for r in self.ledger.closing_runs()])

    async def push(self) -> ActionReport:
        """Publish the night's datacheck (built first if it never was) in a worker thread (or say why not)."""
        from osa_core.publish.publisher import push_night

        return await asyncio.to_thread(push_night, self.layout, self.snapshot)
