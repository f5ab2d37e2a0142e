"""The closing's night-wise job: the profile's ``[closing]`` steps over every merged run, as one job.

For lstchain these are the long-term DL1 check and the Cherenkov transparency (lstosa's closer
submits them as two jobs after the merges). Here they are one batch job, submitted through the
scheduler once every run is merged, failed or excluded and before subrun files are cleaned (the
long-term check reads the subrun muon tables); a round never waits for it. Its state is one
ledger record per closing (meta ``closing_checks_<id>``, JSON), written before ``sbatch`` runs
and after, so a closer killed at any point finds the job again by its name, as merges are found
(:func:`osa_core.track.intents.find_job`). A job ended by the cluster (timeout, memory, node) is
submitted again up to ``scheduler.max_tries`` times; a step that failed with its own exit code is
not (the same products give the same answer). Either way the night then closes with the failure
said in its status and flag, never held open by a check. The outputs are at
:attr:`NightLayout.longterm_file`, where the DL1 datacheck finds them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from osa_core.jobs.scripts import directive, runner_command
from osa_core.model.closestate import ClosingRun, RunClose
from osa_core.model.config import Config
from osa_core.model.errors import OsaError
from osa_core.model.faults import kill_point
from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.model.states import JobState
from osa_core.scheduler.base import QUERY_SLACK, JobRequest, utcnow
from osa_core.track.intents import find_job

if TYPE_CHECKING:
    from osa_core.close.port import ClosingHost

log = logging.getLogger("osa.closer")

RECOVERY_GRACE = dt.timedelta(seconds=60)
MERGED = (RunClose.MOVED, RunClose.CLEANED)
"""Runs whose products are in their final places: what the night-wise steps read."""


@dataclass(frozen=True, slots=True)
class ChecksState:
    state: str = "pending"
    """``pending``, ``submitting``, ``running``, ``done``, ``failed``, or ``none`` (nothing to run)."""
    attempt: int = 0
    job_id: str | None = None
    jobs: tuple[str, ...] = ()
    submitted_at: str | None = None
    runs: tuple[int, ...] = ()
    reason: str = ""

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "none")

    def describe(self) -> str:
        job = f" (job {self.job_id})" if self.job_id else ""
        said = {"none": "nothing to run", "pending": "waiting to be submitted"}.get(self.state, self.state)
        return f"night-wise checks: {said}{job}{': ' + self.reason if self.reason else ''}"


def render_script(config: Config, layout: NightLayout, runs: tuple[int, ...], *, now: dt.datetime) -> str:
    """The batch script of the night-wise job (``osa-core run-night-checks`` runs its steps)."""
    if config.source is None:
        raise OsaError("the closing's night-wise job needs a configuration file the job can read")
    argv = [*runner_command(config), "--config", str(config.source), "run-night-checks"]
    argv += ["--date", layout.date.isoformat(), "--runs", ",".join(str(r) for r in runs)]
    return "\n".join(
        [
            "#!/bin/bash",
            directive(f"--job-name={layout.closing_checks_job_name}"),
            directive(f"--chdir={layout.analysis_dir}"),
            f"# night-wise checks at closing, night {layout.night}, runs {', '.join(map(str, runs))}",
            f"# written by osa-core at {now.isoformat(timespec='seconds')}",
            "set -u",
            "exec " + " ".join(shlex.quote(word) for word in argv) + ' "$@"',
            "",
        ]
    )


class NightChecks:
    """One round of the night-wise job, called by the closer while no run is in progress."""

    def __init__(self, host: ClosingHost, record_id: int, job_ids: list[str]) -> None:
        self.host = host
        self.key = f"closing_checks_{record_id}"
        self.job_ids = job_ids

    def state(self) -> ChecksState:
        text = self.host.ledger.get_meta(self.key)
        if not text:
            return ChecksState()
        data = json.loads(text)
        return ChecksState(**{**data, "jobs": tuple(data["jobs"]), "runs": tuple(data["runs"])})

    def _save(self, state: ChecksState) -> ChecksState:
        self.host.ledger.set_meta(self.key, json.dumps(dataclasses.asdict(state)))
        return state

    async def advance(self, runs: list[ClosingRun]) -> ChecksState:
        """Carry the job as far as it goes this round; at most one scheduler query."""
        state = self.state()
        if state.finished:
            return state
        merged = tuple(sorted(r.run for r in runs if r.state in MERGED))
        layout = self.host.layout
        if state.state == "pending" and (not merged or not self.host.profile.closing_steps(layout, merged)):
            return self._save(dataclasses.replace(state, state="none", runs=merged))
        if state.state == "pending":
            return await self._submit(state, merged)
        since = dt.datetime.fromisoformat(state.submitted_at or utcnow().isoformat()) - QUERY_SLACK
        self.host.scheduler_calls += 1
        infos = await self.host.scheduler.query([layout.closing_checks_job_name], since)
        if state.state == "submitting":
            submitted = dt.datetime.fromisoformat(state.submitted_at or utcnow().isoformat())
            found = find_job(infos, layout.closing_checks_job_name, submitted, set(state.jobs))
            if found:
                self.host.ledger.log_event("recover", f"night-wise checks job {found} found after a crash")
                return self._save(
                    dataclasses.replace(state, state="running", job_id=found, jobs=(*state.jobs, found))
                )
            if utcnow() - submitted < RECOVERY_GRACE:
                return state  # sacct shows a job once slurmctld has told slurmdbd: ask next round
            return self._save(dataclasses.replace(state, state="pending", attempt=state.attempt - 1))
        info = next((i for i in infos if i.job_id == state.job_id), None)
        if info is None or not info.state.finished:
            return state
        if info.state is JobState.COMPLETED:
            self.host.ledger.log_event("close", f"night-wise checks done (job {state.job_id})")
            return self._save(dataclasses.replace(state, state="done", reason=""))
        code = f" (exit code {info.exit_code})" if info.exit_code else ""
        why = f"job {state.job_id} {info.state.value}{code}; see {layout.job_log_dir}"
        self.host.ledger.log_event("close", f"night-wise checks: {why}")
        # A step that exited with its own code gives the same answer on the same products: said,
        # not retried. Timeouts, memory, node failures and cancels are worth another job.
        if info.state is JobState.FAILED or state.attempt >= self.host.config.scheduler.max_tries:
            return self._save(
                dataclasses.replace(state, state="failed", reason=f"{why} (after {state.attempt} jobs)")
            )
        return self._save(dataclasses.replace(state, state="pending", reason=f"{why}; submitting again"))

    async def _submit(self, state: ChecksState, runs: tuple[int, ...]) -> ChecksState:
        layout, config = self.host.layout, self.host.config
        now = utcnow()
        atomic_write(layout.closing_checks_script, render_script(config, layout, runs, now=now), mode=0o755)
        sched = config.scheduler
        request = JobRequest(
            name=layout.closing_checks_job_name,
            script=str(layout.closing_checks_script),
            workdir=str(layout.analysis_dir),
            stdout=layout.closing_checks_log_pattern("out"),
            stderr=layout.closing_checks_log_pattern("err"),
            memory=sched.memory,
            walltime=sched.walltime,
            partition=sched.partition,
            account=sched.account,
            comment=f"osa night {layout.night} night-wise checks",
            args=("--attempt", str(state.attempt + 1)),
            extra=tuple(sched.extra_sbatch_args),
        )
        layout.job_log_dir.mkdir(parents=True, exist_ok=True)
        # the intent first: a crash after sbatch finds the job again through its name
        intent = dataclasses.replace(
            state, state="submitting", attempt=state.attempt + 1, submitted_at=now.isoformat(), runs=runs
        )
        self._save(intent)
        try:
            job_id = await self.host.scheduler.submit(request)
        except Exception:
            self._save(state)
            raise
        kill_point("night-checks-submitted")
        self.job_ids.append(job_id)
        log.info("night-wise checks job %s submitted (runs %s)", job_id, ",".join(map(str, runs)))
        return self._save(
            dataclasses.replace(intent, state="running", job_id=job_id, jobs=(*state.jobs, job_id))
        )


def run_night_checks(config: Config, layout: NightLayout, runs: tuple[int, ...], attempt: int) -> int:
    """Job side: the profile's closing steps over the given runs; 0, or the failed step's exit code."""
    from osa_core.jobs.runner import TaskIdentity, run_steps
    from osa_core.pipeline.factory import get_profile

    steps = get_profile(config).closing_steps(layout, runs)
    layout.longterm_dir.mkdir(parents=True, exist_ok=True)
    layout.history_dir.mkdir(parents=True, exist_ok=True)
    return run_steps(steps, layout.closing_checks_history, TaskIdentity.from_environment(attempt))
