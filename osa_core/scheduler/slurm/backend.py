"""The SLURM backend: sbatch, sacct, squeue, scancel and scontrol as argument lists, with timeouts.

Command lines and parsing live in :mod:`osa_core.scheduler.slurm.commands` (pure); this module
only runs them. Every command runs with ``TZ=UTC`` (sacct prints and reads times in its own
time zone) except sbatch, whose environment the job inherits.

What each call needs, checked on Slurm 22.05.8:

- :meth:`SlurmScheduler.query` is one ``sacct`` call. sacct reads slurmdbd, **not** slurmctld:
  with the controller down it still answers (from the accounting database) and only a dead
  slurmdbd/MariaDB makes it fail. Pass ``job_ids`` (every job id of the night the ledger knows):
  without ``--jobs`` sacct hides pending jobs that are not eligible yet (waiting on ``afterok``,
  held, the unsplit rest of a throttled array). A job also shows in sacct only a second or two
  after sbatch returned: a just-submitted job missing from one answer is not lost.
- :meth:`SlurmScheduler.pending_reasons` is one ``squeue`` call (slurmctld). sacct's Reason is
  stale for pending jobs (it keeps ``Dependency`` after the parent failed), so the engine calls
  this **only when some tasks are pending**, with those tasks' job ids, to tell
  ``DependencyNeverSatisfied`` apart. It also tells whether the controller answers at all: an
  engine that wants to show "controller down" while every task runs calls :meth:`ping`.
- A query without ``job_ids`` (looking for jobs by name: a crash's recovery, a ledger's rebuild)
  adds one ``squeue --name`` call, and a second sacct call for the jobs the first answer lacked
  (see :meth:`SlurmScheduler._with_queue`); it then needs slurmctld too.
- :meth:`SlurmScheduler.requeued` is one ``squeue`` call in a sweep (the engine's sweep before
  closing, and at its cadence): a requeued task is back in slurmctld's queue at once, but sacct
  says COMPLETED until slurmdbd hears of it.
- submit, cancel, set_dependency, hold, release and ping talk to slurmctld; with it down they
  raise SchedulerUnreachable (sbatch/squeue retry for 10-20 s before they give up themselves, so
  ``command_timeout`` bounds the wait).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import shutil
from collections.abc import Sequence

from osa_core.model.errors import SchedulerError, SchedulerUnreachable
from osa_core.model.states import JobState
from osa_core.scheduler.base import JobRequest, Scheduler, TaskInfo
from osa_core.scheduler.slurm import answers
from osa_core.scheduler.slurm import commands as cmd

# stderr fragments that mean "the daemon is not there", as opposed to "it refused the request".
UNREACHABLE_MARKERS = (
    "unable to contact slurm controller",
    "could not connect",
    "connection refused",
    "problem talking to the database",
    "failed to open persistent connection",
    "socket timed out",
    "connection timed out",
    "slurmdbd is not responding",
    "zero bytes were transmitted",
)


def slurm_available() -> bool:
    """True when the SLURM client commands are installed (not whether the daemons answer)."""
    return all(shutil.which(c) is not None for c in ("sbatch", "sacct", "squeue", "scancel", "scontrol"))


class SlurmScheduler(Scheduler):
    """SLURM through its own commands. ``partition`` is used when a request names none."""

    name = "slurm"
    task_ids = True  # sacct --jobs=123_7: that task's lines only (checked on Slurm 22.05)

    def __init__(self, command_timeout: float = 30.0, partition: str | None = None) -> None:
        if command_timeout <= 0:
            raise SchedulerError(f"command_timeout must be positive, not {command_timeout}")
        self.command_timeout = command_timeout
        self.partition = partition
        # The last answer's lines and their parse: a night's refreshes repeat most lines.
        self._parsed: answers.SacctCache = {}
        # The last answer's pending tasks as squeue amended them, by what went in: the same
        # inputs hand back the same object, which the engine then skips without comparing.
        self._amended: dict[tuple[str, int | None], tuple[TaskInfo, object, TaskInfo]] = {}

    async def _run(
        self,
        argv: list[str],
        *,
        stdin: bytes | None = None,
        utc: bool = True,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> str:
        """Run one command; its stdout, or SchedulerUnreachable / SchedulerError.

        ``check=False``: a non-zero exit is the caller's to judge (timeouts still raise).
        """
        full_env = dict(os.environ)
        full_env.update(env or {})
        if utc:
            full_env["TZ"] = "UTC"
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=full_env,
            )
        except FileNotFoundError:
            raise SchedulerError(f"{argv[0]} is not installed here: is this a SLURM submit host?") from None
        except OSError as exc:
            raise SchedulerError(f"cannot run {argv[0]}: {exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), self.command_timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SchedulerUnreachable(
                f"{argv[0]} did not answer within {self.command_timeout:g} s "
                "(slurmctld or slurmdbd down or overloaded?)"
            ) from None
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        stderr = err.decode(errors="replace").strip()
        if proc.returncode != 0 and check:
            lowered = stderr.lower()
            if any(marker in lowered for marker in UNREACHABLE_MARKERS):
                # Name the daemon the shifter has to look at: sacct reads slurmdbd, the rest
                # talk to slurmctld.
                daemon = "slurmdbd" if argv[0] in ("sacct", "sacctmgr") else "slurmctld"
                raise SchedulerUnreachable(f"{daemon} is not answering ({argv[0]}: {stderr})")
            raise SchedulerError(f"{argv[0]} failed (exit {proc.returncode}): {stderr or '(no stderr)'}")
        return out.decode(errors="replace")

    async def submit(self, request: JobRequest) -> str:
        # The engine passes the path of a rendered script; a multi-line string is the script
        # itself, fed through /dev/stdin so that its arguments still reach it.
        inline = "\n" in request.script
        argv = cmd.sbatch_argv(request, partition=self.partition, script="/dev/stdin" if inline else None)
        # request.env goes through sbatch's own environment (default --export=ALL), not
        # --export=K=V, where a comma in a value would split it.
        out = await self._run(
            argv, stdin=request.script.encode() if inline else None, utc=False, env=dict(request.env)
        )
        return answers.parse_sbatch(out)

    async def query(
        self, names: Sequence[str], since: dt.datetime, job_ids: Sequence[str] = ()
    ) -> list[TaskInfo]:
        """Every task of these jobs since ``since``: one sacct call (and one squeue call while
        some task is pending).

        ``job_ids``: the night's job ids, when known, so that pending jobs that are not eligible
        yet show too (see the module docstring); without them the queue is asked as well
        (:meth:`_with_queue`). States, exit codes and times come from the accounting database;
        a pending task's ``reason`` comes from squeue (:meth:`_live_pending`).
        """
        tasks = answers.parse_sacct(await self._run(cmd.sacct_argv(names, since, job_ids)), self._parsed)
        if not job_ids:
            tasks = await self._with_queue(names, since, tasks)
        if any(t.state is JobState.PENDING for t in tasks):
            tasks = await self._live_pending(tasks)
        return tasks

    async def _with_queue(
        self, names: Sequence[str], since: dt.datetime, tasks: list[TaskInfo]
    ) -> list[TaskInfo]:
        """A query by name alone, completed from slurmctld's queue (one squeue call; one more
        sacct call only when the queue holds jobs the first answer lacked).

        Asked by name, sacct hides a job waiting on a dependency or held, and a job slurmdbd has
        not heard of yet: a recovery after a crash would call such a job lost and submit it
        again. squeue lists every job of those names at once; those the first answer lacked are
        asked of sacct by id (which shows the ineligible ones), and a job the accounting does not
        know yet is taken as the queue says (no exit code or figures: the next answer has them).
        """
        queued = answers.parse_squeue_named(await self._run(cmd.squeue_named_argv(names)))
        answered = {t.job_id for t in tasks}
        missing = sorted(
            {
                t.job_id
                for t in queued
                if t.job_id not in answered and (t.submit is None or t.submit >= since)
            },
            key=lambda j: (len(j), j),
        )
        if not missing:
            return tasks
        more = answers.parse_sacct(await self._run(cmd.sacct_argv(names, since, missing)))
        heard = {t.job_id for t in more}
        return [*tasks, *more, *(t for t in queued if t.job_id in missing and t.job_id not in heard)]

    async def _live_pending(self, tasks: list[TaskInfo]) -> list[TaskInfo]:
        """What sacct says is pending, as slurmctld sees it now (one squeue call).

        The accounting database keeps a pending array range as it was submitted: an index
        cancelled before it started stays "pending" there, and a dependency that can never be
        satisfied still reads ``Dependency``. squeue knows both; a pending task it no longer
        lists was cancelled before it started.
        """
        live = await self._live_tasks(sorted({t.job_id for t in tasks if t.state is JobState.PENDING}))
        listed = {job for job, _ in live}
        out = []
        previous, self._amended = self._amended, {}
        for task in tasks:
            if task.state is not JobState.PENDING:
                out.append(task)
                continue
            key = (task.job_id, task.array_index)
            now = live.get(key)
            seen = (now, task.job_id in listed)
            before = previous.get(key)
            if before is not None and before[0] is task and before[1] == seen:
                out.append(before[2])
                self._amended[key] = before
                continue
            sacct_task = task
            if now is None:
                if task.array_index is not None and task.job_id in listed:
                    # its array is still queued without it: cancelled before it started
                    gone = "left the queue before it started"
                    task = dataclasses.replace(task, state=JobState.CANCELLED, reason=gone)
                # else: slurmctld forgot it or it ran and left; the next sacct answer will say
            elif now[0] is JobState.PENDING:
                task = dataclasses.replace(task, reason=now[1])
            elif now[0] is JobState.RUNNING:  # started since the accounting database heard of it
                task = dataclasses.replace(task, state=JobState.RUNNING, reason=None)
            # a finished state from squeue carries no exit code or times: wait for sacct's
            out.append(task)
            self._amended[key] = (sacct_task, seen, task)
        return out

    async def requeued(self, tasks: list[TaskInfo]) -> list[TaskInfo]:
        """A sweep's answer with the tasks slurmctld has back in its queue read as pending.

        ``scontrol requeue`` (a person's correction, or Slurm's own after a node failure) puts a
        finished task back in the queue at once, but slurmdbd hears of it later (seconds, more
        on a loaded machine): meanwhile sacct still says COMPLETED, and a close judged on that
        alone would merge a run whose subrun is about to be rewritten. One squeue call for the
        jobs sacct says have finished tasks; a task squeue lists as pending is read pending
        (times and exit code dropped: the accounting's next answer gives its new ones).
        """
        jobs = sorted({t.job_id for t in tasks if t.state.finished})
        if not jobs:
            return tasks
        live = await self._live_tasks(jobs)
        out = []
        for task in tasks:
            now = live.get((task.job_id, task.array_index))
            if task.state.finished and now is not None and now[0] is JobState.PENDING:
                task = dataclasses.replace(
                    task,
                    state=JobState.PENDING,
                    exit_code=None,
                    signal=None,
                    start=None,
                    end=None,
                    reason=now[1] or "requeued",
                )
            out.append(task)
        return out

    async def _live_tasks(
        self, jobs: Sequence[str]
    ) -> dict[tuple[str, int | None], tuple[JobState, str | None]]:
        """{(job, index): (state, reason)} of these jobs' tasks slurmctld still lists (one squeue
        call); squeue fails when it knows none of them, which is an empty answer here."""
        try:
            return answers.parse_squeue_tasks(await self._run(cmd.squeue_tasks_argv(jobs)))
        except SchedulerUnreachable:
            raise
        except SchedulerError as exc:
            if "invalid job id" not in exc.message.lower():
                raise
            return {}

    async def pending_reasons(self, job_ids: Sequence[str]) -> dict[str, str]:
        """{job id: live reason} of those jobs still pending, in one squeue call.

        A job id squeue no longer knows is simply absent (squeue fails when it knows none).
        """
        if not job_ids:
            return {}
        try:
            out = await self._run(cmd.squeue_argv(job_ids))
        except SchedulerUnreachable:
            raise
        except SchedulerError as exc:
            if "invalid job id" in exc.message.lower():
                return {}
            raise
        return answers.parse_squeue_reasons(out)

    async def pending_tasks(self, name_prefix: str) -> int:
        out = await self._run(cmd.squeue_pending_names_argv())
        return sum(1 for line in out.splitlines() if line.strip().startswith(name_prefix))

    async def ping(self) -> None:
        """Raise SchedulerUnreachable unless slurmctld answers (one ``scontrol ping``)."""
        # With the controller down, scontrol ping exits 1 and says "... is DOWN" on stdout.
        out = await self._run(["scontrol", "ping"], check=False)
        if "is UP" not in out:
            raise SchedulerUnreachable(f"slurmctld is not answering: {out.strip() or 'no answer'}")

    async def cancel(self, job_id: str, indices: Sequence[int] | None = None) -> None:
        await self._run(cmd.scancel_argv(job_id, indices))

    async def set_dependency(self, job_id: str, after_ok: Sequence[str]) -> None:
        await self._run(cmd.set_dependency_argv(job_id, after_ok))

    async def hold(self, job_id: str) -> None:
        await self._run(cmd.hold_argv(job_id))

    async def release(self, job_id: str) -> None:
        await self._run(cmd.release_argv(job_id))
