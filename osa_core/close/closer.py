"""Closing the night: a resumable state machine per run, advanced one round per call.

A round (``osa-core close``, the console's close key) never waits for a merge: it submits the
merge jobs that are due, asks the scheduler once about those already submitted, and carries
every run as far as it can go: ``pending -> submitting -> merging -> merged -> verified -> moved
-> cleaned`` (see :mod:`osa_core.model.closestate`). Once every run is done it builds the datacheck,
writes the night-finished flag and records the closing. Each state is written to the ledger
only after the work it names is durable, and every step can be redone, so a closer killed at
any point resumes on the next round; subrun files are deleted only in ``moved -> cleaned``,
after their merged file was verified and found in its final place.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from osa_core.close.closing_plan import closed_text, decide, describe, progress_text, summary
from osa_core.close.merge import MergeError, Product, discard_staged, final, staged, subrun_files
from osa_core.close.nightchecks import NightChecks
from osa_core.close.verify import matches, verify_run
from osa_core.jobs.scripts import render_merge_script
from osa_core.model.actions import ActionReport
from osa_core.model.closestate import ClosingDatacheck, ClosingRecord, ClosingRun, RunClose
from osa_core.model.errors import SchedulerUnreachable
from osa_core.model.faults import kill_point
from osa_core.model.fileio import atomic_write, fsync_dir
from osa_core.model.placing import copy_into_place, move_into_place
from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import JobState
from osa_core.pipeline.base import CalibrationProducts, calibration_of
from osa_core.scheduler.base import QUERY_SLACK, JobRequest, TaskInfo, utcnow
from osa_core.track.intents import find_job

if TYPE_CHECKING:
    from osa_core.close.port import ClosingHost

log = logging.getLogger("osa.closer")

RECOVERY_GRACE = dt.timedelta(seconds=60)
"""How long a merge submission cut off by a crash is looked for before it is called lost."""
IN_PROGRESS = (RunClose.PENDING, RunClose.SUBMITTING, RunClose.MERGING, RunClose.MERGED, RunClose.VERIFIED)


def close_phase(engine: ClosingHost) -> tuple[str, int]:
    """(``open``, ``closing`` or ``closed``; runs whose merge failed): what cron's exit code says."""
    record = engine.ledger.closing()
    if record is None:
        return "open", 0
    failed = sum(1 for r in engine.ledger.closing_runs() if r.state is RunClose.FAILED)
    return ("closed" if record.finished else "closing"), failed


class Closer:
    def __init__(self, engine: ClosingHost) -> None:
        self.engine = engine
        self.config = engine.config
        self.layout = engine.layout
        self.ledger = engine.ledger
        self.scheduler = engine.scheduler
        self.job_ids: list[str] = []

    # --- entry points ----------------------------------------------------------------------------
    async def preview(self, force: bool) -> ActionReport:
        """What a round would do now; changes nothing."""
        record = self.ledger.closing()
        if record is not None and record.finished:
            return ActionReport(
                "close", True, f"the night was closed at {record.finished:%Y-%m-%d %H:%M} UTC"
            )
        if record is not None:
            runs = self.ledger.closing_runs()
            lines = [describe(r) for r in runs]
            return ActionReport(
                "close", True, f"closing in progress: {progress_text(runs)}", (), tuple(lines)
            )
        decision = decide(await self._fresh_snapshot(), force)
        if decision.refusal:
            return ActionReport("close", False, decision.refusal, (), decision.missing)
        lines = [f"would merge run {r.run:05d} ({r.subruns} subruns) as a job" for r in decision.included]
        lines += [f"would exclude run {r.run:05d}: {r.reason}" for r in decision.excluded]
        checks = self.engine.profile.closing_steps(self.layout, [r.run for r in decision.included])
        if checks and decision.included:
            lines.append(f"then one night-wise job: {', '.join(s.name for s in checks)}")
        return ActionReport("close", True, f"would close {len(decision.included)} run(s)", (), tuple(lines))

    async def advance(self, force: bool) -> ActionReport:
        """One round; the caller holds the night's lock."""
        record = self.ledger.closing()
        if record is not None and record.finished:
            return ActionReport(
                "close", True, f"the night was closed at {record.finished:%Y-%m-%d %H:%M} UTC"
            )
        if record is None:
            decision = decide(await self._fresh_snapshot(), force)
            if decision.refusal:
                self.ledger.log_event("close", decision.refusal + ": " + "; ".join(decision.missing))
                return ActionReport("close", False, decision.refusal, (), decision.missing)
            self.ledger.begin_closing((*decision.included, *decision.excluded), force, utcnow())
            self.ledger.log_event(
                "close",
                f"closing started{' (forced)' if force else ''}: {len(decision.included)} run(s) to merge"
                + "".join(f"; excluded {r.run:05d}: {r.reason}" for r in decision.excluded),
            )
            record = self.ledger.closing()
            assert record is not None
        else:
            await self.engine.refresh()  # the night page shows the latest states
        await self._recover_submitting()
        infos = await self._query_merges()
        for run in self.ledger.closing_runs():
            await self._step(run, infos)
        runs = self.ledger.closing_runs()
        checks = None
        if not any(r.state in IN_PROGRESS for r in runs):
            # the night-wise job reads the runs' final products and the subrun muon tables: after
            # the moves, before the cleaning
            checks = await NightChecks(self.engine, record.id, self.job_ids).advance(runs)
            if checks.finished:
                await self._finish(record)
            runs = self.ledger.closing_runs()
        final = self.ledger.closing()
        closed = final is not None and final.finished is not None
        text = closed_text(final, runs) if final is not None and closed else progress_text(runs)
        if checks is not None and not closed:
            text += f"; {checks.describe()}"
        if final is not None:
            self.ledger.set_closing_status(final.id, text)
        details = tuple(describe(r) for r in runs) + ((checks.describe(),) if checks is not None else ())
        return ActionReport("close", True, text, tuple(self.job_ids), details)

    async def _fresh_snapshot(self) -> NightSnapshot:
        snapshot = await self.engine.refresh()
        if not snapshot.health.ok:
            raise SchedulerUnreachable(f"cannot check the night before closing: {snapshot.health.error}")
        return snapshot

    # --- one run ------------------------------------------------------------------------------------
    def _save(self, run: ClosingRun, **changes: object) -> ClosingRun:
        run = dataclasses.replace(run, **changes)  # type: ignore[arg-type]
        self.ledger.update_closing_run(run)
        return run

    async def _step(self, run: ClosingRun, infos: dict[str, TaskInfo]) -> None:
        while True:
            if run.state is RunClose.PENDING:
                await self._submit(run)
                return
            if run.state is RunClose.MERGING:
                info = infos.get(run.job_id or "")
                if info is None or not info.state.finished:
                    return
                if info.state is not JobState.COMPLETED:
                    code = f" (exit code {info.exit_code})" if info.exit_code else ""
                    run = self._retry(run, f"merge job {run.job_id} {info.state.value}{code}")
                    continue
                run = self._save(run, state=RunClose.MERGED)
                kill_point("merged")
            elif run.state is RunClose.MERGED:
                try:
                    calibration = self._calibration(run)
                    products = await asyncio.to_thread(
                        verify_run, self.layout, run.run, run.subruns, calibration
                    )
                except MergeError as exc:
                    await asyncio.to_thread(discard_staged, self.layout, run.run, run.subruns, calibration)
                    run = self._retry(run, f"merge of job {run.job_id} failed verification: {exc}")
                    continue
                run = self._save(run, state=RunClose.VERIFIED, products=products, reason="")
                kill_point("verified")
                log.info("run %05d: merged products verified", run.run)
            elif run.state is RunClose.VERIFIED:
                try:
                    await asyncio.to_thread(self._move, run)
                except MergeError as exc:  # a verified file vanished: merge again, inputs are intact
                    run = self._retry(run, str(exc))
                    continue
                run = self._save(run, state=RunClose.MOVED)
                kill_point("moved")
            else:
                return

    def _retry(self, run: ClosingRun, why: str) -> ClosingRun:
        """Back to pending for another merge job, or failed after ``max_tries`` jobs."""
        tries = self.config.scheduler.max_tries
        log.warning("run %05d: %s", run.run, why)
        self.ledger.log_event("close", f"run {run.run:05d}: {why}")
        if run.attempt >= tries:
            return self._save(run, state=RunClose.FAILED, reason=f"{why} (after {run.attempt} merge jobs)")
        return self._save(run, state=RunClose.PENDING, reason=f"{why}; merging again")

    def _calibration(self, run: ClosingRun) -> CalibrationProducts | None:
        """The calibration the run's data read (its run-wise steps read it too: Cat-B)."""
        return self.engine.profile.run_calibration(self.layout, self.engine.state.sequences, run.seq)

    def _calibration_runs(self, run: ClosingRun) -> tuple[int, int] | None:
        """(DRS4 run, pedcal run) of the run's calibration sequence, given to its merge job."""
        parent = calibration_of(self.engine.state.sequences, run.seq)
        if parent is None or parent.drs4_run is None:
            return None
        return parent.drs4_run, parent.run

    async def _submit(self, run: ClosingRun) -> None:
        script = self.layout.merge_script(run.run)
        try:
            calibration = self._calibration_runs(run)
            text = render_merge_script(self.config, self.layout, run.run, run.subruns, calibration)
        except ValueError as exc:
            raise MergeError(str(exc)) from None
        atomic_write(script, text, mode=0o755)
        sched = self.config.scheduler
        request = JobRequest(
            name=self.layout.merge_job_name(run.run),
            script=str(script),
            workdir=str(self.layout.analysis_dir),
            stdout=self.layout.merge_log_pattern(run.run, "out"),
            stderr=self.layout.merge_log_pattern(run.run, "err"),
            memory=sched.memory,
            walltime=sched.walltime,
            partition=sched.partition,
            account=sched.account,
            comment=f"osa night {self.layout.night} merge run {run.run:05d}",
            args=("--attempt", str(run.attempt + 1)),
            extra=tuple(sched.extra_sbatch_args),
        )
        self.layout.job_log_dir.mkdir(parents=True, exist_ok=True)
        # the intent first: a crash after sbatch is then found again through the job's name
        run = self._save(run, state=RunClose.SUBMITTING, attempt=run.attempt + 1, submitted_at=utcnow())
        try:
            job_id = await self.scheduler.submit(request)
        except Exception:
            self._save(run, state=RunClose.PENDING, attempt=run.attempt - 1)
            raise
        kill_point("merge-submitted")
        self._save(run, state=RunClose.MERGING, job_id=job_id, jobs=(*run.jobs, job_id))
        self.job_ids.append(job_id)
        log.info("run %05d: merge job %s submitted", run.run, job_id)

    async def _recover_submitting(self) -> None:
        """Merge submissions begun but not completed: did sbatch run before the crash?"""
        open_runs = [r for r in self.ledger.closing_runs() if r.state is RunClose.SUBMITTING]
        if not open_runs:
            return
        since = min(r.submitted_at or utcnow() for r in open_runs) - QUERY_SLACK
        names = [self.layout.merge_job_name(r.run) for r in open_runs]
        self.engine.scheduler_calls += 1
        infos = await self.scheduler.query(names, since)
        for run in open_runs:
            name = self.layout.merge_job_name(run.run)
            # the same rule as the engine's submissions (osa_core/track/intents.py)
            found = find_job(infos, name, run.submitted_at or utcnow(), set(run.jobs))
            if found:
                self._save(run, state=RunClose.MERGING, job_id=found, jobs=(*run.jobs, found), reason="")
                said = f"merge job {found} of run {run.run:05d} found after a crash"
                self.ledger.log_event("recover", said)
            elif utcnow() - (run.submitted_at or utcnow()) < RECOVERY_GRACE:
                # sacct shows a job only once slurmctld has told slurmdbd: ask again next round
                self._save(run, reason="submitted before a crash? looking for its job")
            else:
                self._save(run, state=RunClose.PENDING, attempt=run.attempt - 1, reason="sbatch did not run")

    async def _query_merges(self) -> dict[str, TaskInfo]:
        """One scheduler call for every merge job still running."""
        merging = [r for r in self.ledger.closing_runs() if r.state is RunClose.MERGING]
        if not merging:
            return {}
        since = min(r.submitted_at or utcnow() for r in merging) - QUERY_SLACK
        self.engine.scheduler_calls += 1
        infos = await self.scheduler.query([self.layout.merge_job_name(r.run) for r in merging], since)
        return {i.job_id: i for i in infos}

    # --- files ----------------------------------------------------------------------------------------
    def _move(self, run: ClosingRun) -> None:
        for product in run.products:
            src = staged(self.layout, Product(product.name, product.level))
            dst = final(self.layout, Product(product.name, product.level))
            if src.exists():
                move_into_place(src, dst)
                kill_point("moved-file")
            elif not matches(dst, product):
                raise MergeError(f"{product.name} is neither in {src.parent} nor in {dst.parent}")

    def _clean(self, run: ClosingRun) -> ClosingRun:
        if self.config.close.keep_subrun_files:
            return self._save(run, state=RunClose.CLEANED, reason="subrun files kept")
        for product in run.products:
            dst = final(self.layout, Product(product.name, product.level))
            if not matches(dst, product):  # never delete inputs whose merged file is not in place
                return self._retry(run, f"{dst} is missing or changed after it was moved; subrun files kept")
        removed: set[Path] = set()
        for path in subrun_files(self.layout, run.run, run.subruns, self._calibration(run)):
            if path.exists():
                path.unlink()
                removed.add(path.parent)
                kill_point("cleaned-file")
        for directory in removed:
            fsync_dir(directory)
        return self._save(run, state=RunClose.CLEANED, reason="subrun files removed")

    # --- the night ---------------------------------------------------------------------------------------
    async def _finish(self, record: ClosingRecord) -> None:
        """Every run merged, failed or excluded: datacheck, cleaning, the flag, the ledger."""
        current = self.ledger.closing()
        if current is None or current.datacheck is None:
            built = await asyncio.to_thread(self._datacheck)
            self.ledger.set_closing_datacheck(record.id, built)
            kill_point("datacheck")
        calibration = await asyncio.to_thread(self._copy_calibration)
        for run in self.ledger.closing_runs():
            if run.state is RunClose.MOVED:
                await asyncio.to_thread(self._clean, run)
        runs = self.ledger.closing_runs()
        if any(r.state in IN_PROGRESS for r in runs):
            return  # a final product went missing: its run merges again first
        current = self.ledger.closing()
        assert current is not None and current.datacheck is not None
        closed_at = current.closed_at
        if closed_at is None:
            closed_at = utcnow().replace(microsecond=0)
            self.ledger.set_closed_at(record.id, closed_at)
        datacheck = current.datacheck
        stamp = closed_at.isoformat(timespec="seconds")
        flag = summary(self.engine, record, runs, calibration, datacheck.for_flag(), stamp)
        flag["night_checks"] = NightChecks(self.engine, record.id, self.job_ids).state().describe()
        text = json.dumps(flag, indent=1) + "\n"
        atomic_write(self.layout.closed_flag, text)
        kill_point("flag")
        self.ledger.finish_closing(record.id, closed_at, text)
        self.ledger.log_event("close", f"night closed: {self.layout.closed_flag}")
        log.info("night %s closed: %s", self.layout.night, self.layout.closed_flag)
        finished = self.ledger.closing()
        assert finished is not None
        said = closed_text(finished, runs)
        self.ledger.set_closing_status(record.id, said)
        if datacheck.error is None:  # the page was built before the cleaning: now it can say "closed"
            snapshot = dataclasses.replace(self.engine.snapshot, closing=said)
            await asyncio.to_thread(self._page, snapshot)

    def _page(self, snapshot: NightSnapshot) -> None:
        from osa_core.publish.datacheck import write_page

        try:
            write_page(snapshot, self.layout)
        except Exception:  # the night is closed; a page that says so is a nicety (datacheck redoes it)
            log.exception("night page not rewritten")

    def _datacheck(self) -> ClosingDatacheck:
        """Provenance, the plots and the page; a problem in them is reported, it does not hold the
        night open."""
        from osa_core.publish.datacheck import build_datacheck

        self._provenance()
        try:
            built = build_datacheck(self.engine.snapshot, self.layout)
        except Exception as exc:  # a bug in a plot must not keep merged data from being closed
            log.exception("datacheck failed")
            return ClosingDatacheck(error=f"{type(exc).__name__}: {exc}")
        return ClosingDatacheck(dir=str(built.root), files=len(built.files))

    def _provenance(self) -> None:
        """A PROV record per merged run, before the cleaning removes the subrun files it names."""
        from osa_core.close.provenance import Checksums, write_run_provenance

        checksums = Checksums(int(self.config.close.provenance_checksum_max_mib * 2**20))
        merged = [r for r in self.ledger.closing_runs() if r.state in (RunClose.MOVED, RunClose.CLEANED)]
        night_runs = tuple(r.run for r in merged)  # what the night-wise job was given
        for run in merged:
            try:
                write_run_provenance(
                    self.layout, self.engine.profile, self.engine.state.sequences, run, checksums, night_runs
                )
            except Exception:  # a record that cannot be written must not keep merged data from closing
                log.exception("run %05d: provenance record not written", run.run)
                self.ledger.log_event("close", f"run {run.run:05d}: provenance record not written")

    def _copy_calibration(self) -> list[dict[str, object]]:
        """Computed calibration files are copied (they are small) to the final calibration place."""
        out = []
        profile = self.engine.profile
        for sequence in self.engine.state.sequences:
            if not sequence.is_calibration or sequence.drs4_run is None:
                continue
            products = profile.calibration_products(self.layout, sequence.drs4_run, sequence.run)
            copied = []
            for name in ("drs4", "charge", "time"):
                src: Path = getattr(products, name)
                if name in products.external or not src.is_file():
                    continue
                dst = self.layout.final_dir("calibration") / src.name
                if not dst.exists() or dst.stat().st_size != src.stat().st_size:
                    copy_into_place(src, dst)
                copied.append(str(dst))
            out.append({"run": sequence.run, "drs4_run": sequence.drs4_run, "files": copied})
        return out
