"""What a task used, as the real SLURM's accounting and the local backend's wait4 report it.

The job allocates and touches a known amount of memory (300 MiB) and burns CPU for a second:
the recorded peak must be close to it, the CPU time at least that second, and the requests
what the job asked for. SLURM samples memory every JobAcctGatherFrequency seconds (30 here), so
the job asks for ``--acctg-freq=1``: production jobs run for an hour and need no such option.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from osa_core.model.states import JobState
from osa_core.model.usage import Usage
from osa_core.scheduler.base import JobRequest, Scheduler, TaskInfo
from osa_core.scheduler.local.backend import LocalScheduler, stop_executor
from osa_core.scheduler.slurm.backend import SlurmScheduler

MIB = 1024**2
ALLOCATED = 300 * MIB
HOG = f"""#!/bin/bash
exec python3 -c '
import time
block = bytearray({ALLOCATED})
for i in range(0, len(block), 4096):
    block[i] = 1
end = time.process_time() + 1.0
while time.process_time() < end:
    pass
time.sleep(1.5)
'
"""


def request(tmp_path: Path, name: str, extra: tuple[str, ...] = ()) -> JobRequest:
    script = tmp_path / "hog.sh"
    script.write_text(HOG)
    script.chmod(0o755)
    return JobRequest(
        name=name,
        script=str(script),
        workdir=str(tmp_path),
        stdout=str(tmp_path / "hog_%A_%a.out"),
        stderr=str(tmp_path / "hog_%A_%a.err"),
        array=(0, 1),
        memory="1G",
        walltime="00:05:00",
        extra=extra,
    )


async def finished(sched: Scheduler, name: str, job_id: str, since: dt.datetime) -> list[TaskInfo]:
    deadline = time.monotonic() + 120
    while True:
        tasks = await sched.query([name], since, [job_id])
        done = [t for t in tasks if t.state.finished]
        # sacct records the batch step's figures a moment after the task ends
        if len(done) == 2 and all(t.usage is not None and t.usage.max_rss for t in done):
            return sorted(done, key=lambda t: t.array_index or 0)
        if time.monotonic() > deadline:
            pytest.fail(f"the tasks did not finish with figures in 120 s: {tasks}")
        await asyncio.sleep(1.0)


def assert_close_to_the_job(usage: Usage | None) -> None:
    assert usage is not None
    assert usage.max_rss is not None and ALLOCATED <= usage.max_rss <= ALLOCATED + 120 * MIB, usage
    assert usage.cpu_seconds is not None and 0.9 <= usage.cpu_seconds <= 10, usage
    assert usage.req_mem == 1024 * MIB
    assert usage.time_limit == 300.0


@pytest.mark.slurm
async def test_slurm_reports_the_peak_memory_and_cpu_of_each_task(slurm_cluster: str, tmp_path: Path) -> None:
    name = f"effreport_usage_{uuid.uuid4().hex[:8]}"
    sched = SlurmScheduler(command_timeout=30, partition=slurm_cluster)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    job_id = await sched.submit(request(tmp_path, name, extra=("--acctg-freq=1",)))
    tasks = await finished(sched, name, job_id, since)
    assert [t.state for t in tasks] == [JobState.COMPLETED, JobState.COMPLETED]
    for task in tasks:
        assert_close_to_the_job(task.usage)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalScheduler]:
    sched = LocalScheduler(tmp_path / "spool", slots=2, idle_exit=5.0)
    try:
        yield sched
    finally:
        stop_executor(tmp_path / "spool", kill_tasks=True)


async def test_the_local_backend_reports_the_same_figures(local: LocalScheduler, tmp_path: Path) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    job_id = await local.submit(request(tmp_path, "effreport_usage_local"))
    tasks = await finished(local, "effreport_usage_local", job_id, since)
    assert [t.state for t in tasks] == [JobState.COMPLETED, JobState.COMPLETED]
    for task in tasks:
        assert_close_to_the_job(task.usage)
