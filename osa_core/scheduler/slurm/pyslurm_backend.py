"""SLURM through pyslurm's C bindings instead of its commands (optional backend).

UNTESTED HERE: no pyslurm build exists for Slurm 22.05 (pyslurm's version must match the cluster's
Slurm major release, and PyPI has none for 22.05), so this module was written against the
documented pyslurm 23.x API (``pyslurm.JobSubmitDescription``, ``pyslurm.Job``,
``pyslurm.Jobs``, ``pyslurm.db.Jobs``/``pyslurm.db.JobFilter``) and never ran against a cluster.
Prefer :class:`osa_core.scheduler.slurm.SlurmScheduler`; use this only after running
``tests/integration/test_slurm_backend.py`` against it on a cluster with a matching pyslurm.

The same Slurm rules apply as for the commands (see :mod:`osa_core.scheduler.slurm.commands`):
the database hides not-yet-eligible pending jobs unless their ids are given, and its pending
reason may be stale. pyslurm calls block, so each runs in a worker thread.

NOT DONE HERE (the command backend does both): a query by name alone does not also ask the
controller's queue (``SlurmScheduler._with_queue``), so a crash's recovery can miss a job
waiting on its calibration and submit it again; and a sweep does not read requeued tasks from
the queue (``SlurmScheduler.requeued``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from osa_core.model.arrays import expand_indices, index_spec
from osa_core.model.errors import SchedulerError
from osa_core.model.states import JobState
from osa_core.scheduler.base import JobRequest, Scheduler, TaskInfo
from osa_core.scheduler.slurm import answers

T = TypeVar("T")


def _epoch(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(value, dt.UTC) if isinstance(value, int) and value > 0 else None


class PyslurmScheduler(Scheduler):
    """SLURM via pyslurm (23.x API). Raises SchedulerError at construction without pyslurm."""

    name = "pyslurm"

    def __init__(self, partition: str | None = None) -> None:
        try:
            import pyslurm  # lazy: a C extension that exists only where it matches the cluster
        except ImportError as exc:  # also an ImportError when built against another libslurm
            raise SchedulerError(f"pyslurm is not importable: {exc}") from None
        self._pyslurm: Any = pyslurm
        self.partition = partition

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except SchedulerError:
            raise
        except Exception as exc:  # pyslurm raises RPCError/ValueError/... with Slurm's message
            raise SchedulerError(f"pyslurm {what}: {exc}") from exc

    async def submit(self, request: JobRequest) -> str:
        ps = self._pyslurm
        script = request.script
        if "\n" not in script:
            with open(script, encoding="utf-8") as fh:  # pyslurm takes the text, or a path it reads
                script = fh.read()
        array = None
        if request.array is not None:
            array = index_spec(request.array)
            if request.throttle > 0:
                array += f"%{request.throttle}"
        desc = ps.JobSubmitDescription(
            name=request.name,
            script=script,
            script_args=list(request.args) or None,
            array=array,
            dependencies="afterok:" + ":".join(request.after_ok) if request.after_ok else None,
            memory_per_node=request.memory,
            time_limit=request.walltime,
            partitions=request.partition or self.partition,
            account=request.account,
            comment=request.comment or None,
            standard_output=request.stdout,
            standard_error=request.stderr,
            working_directory=request.workdir,
            environment=dict(request.env) if request.env else None,
            excluded_nodes=list(request.exclude) or None,
        )
        if request.extra:
            raise SchedulerError(f"pyslurm backend cannot pass raw sbatch options {list(request.extra)}")
        return str(await self._call("submit", desc.submit))

    async def query(
        self, names: Sequence[str], since: dt.datetime, job_ids: Sequence[str] = ()
    ) -> list[TaskInfo]:
        ps = self._pyslurm
        flt = ps.db.JobFilter(
            names=list(names),
            start_time=since,
            end_time=dt.datetime.now(dt.UTC),
            ids=[int(j) for j in job_ids] or None,
        )
        jobs = await self._call("db query", lambda: ps.db.Jobs.load(flt))
        tasks: list[TaskInfo] = []
        for job in jobs.values():
            try:
                tasks.extend(self._tasks(job))
            except SchedulerError as exc:
                raise SchedulerError(f"pyslurm db job {getattr(job, 'id', '?')}: {exc.message}") from None
        return tasks

    @staticmethod
    def _tasks(job: Any) -> list[TaskInfo]:
        state = answers.parse_state(str(job.state))
        master = str(job.array_id or job.id)
        waiting = job.array_tasks_waiting if job.array_task_id is None else None
        indices: list[int | None]
        if waiting:
            text = str(waiting)
            if text.startswith("0x"):  # the database's hex bitmap, bit i = index i
                bits = int(text, 16)
                indices = [i for i in range(bits.bit_length()) if bits >> i & 1]
            else:
                indices = list(expand_indices(text))
        else:
            indices = [job.array_task_id if job.array_id else None]
        finished = state.finished
        node = job.nodelist if job.nodelist not in (None, "", "None assigned") else None
        return [
            TaskInfo(
                job_id=master,
                array_index=index,
                name=str(job.name),
                state=state,
                exit_code=job.exit_code if finished else None,
                signal=(job.exit_code_signal or None) if finished else None,
                node=node,
                submit=_epoch(job.submit_time),
                start=_epoch(job.start_time),
                end=_epoch(job.end_time),
                reason=(job.state_reason or None) if state is JobState.PENDING else None,
            )
            for index in indices
        ]

    async def pending_reasons(self, job_ids: Sequence[str]) -> dict[str, str]:
        ps = self._pyslurm
        wanted = set(job_ids)
        jobs = await self._call("load jobs", ps.Jobs.load)
        out: dict[str, str] = {}
        for job in jobs.values():
            master = str(job.array_id or job.id)
            if master in wanted and str(job.state) == "PENDING" and job.state_reason:
                out.setdefault(master, str(job.state_reason))
        return out

    async def cancel(self, job_id: str, indices: Sequence[int] | None = None) -> None:
        ps = self._pyslurm
        if indices is None:
            await self._call("cancel", ps.Job(int(job_id)).cancel)
            return
        # pyslurm.Job takes an integer id: cancel each task by its own id. The unsplit pending
        # rest of an array has none, so such indices are refused rather than half-done.
        jobs = await self._call("load jobs", ps.Jobs.load)
        by_index = {
            j.array_task_id: j.id
            for j in jobs.values()
            if str(j.array_id) == job_id and j.array_task_id is not None
        }
        missing = sorted(set(indices) - set(by_index))
        if missing:
            raise SchedulerError(f"pyslurm cannot cancel indices {missing} of job {job_id} one by one")
        for index in sorted(set(indices)):
            await self._call("cancel", ps.Job(int(by_index[index])).cancel)

    async def set_dependency(self, job_id: str, after_ok: Sequence[str]) -> None:
        ps = self._pyslurm
        dep = "afterok:" + ":".join(after_ok) if after_ok else ""
        changes = ps.JobSubmitDescription(dependencies=dep)
        await self._call("set dependency", lambda: ps.Job(int(job_id)).modify(changes))

    async def hold(self, job_id: str) -> None:
        await self._call("hold", self._pyslurm.Job(int(job_id)).hold)

    async def release(self, job_id: str) -> None:
        await self._call("release", self._pyslurm.Job(int(job_id)).release)
