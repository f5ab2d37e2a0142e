"""SlurmScheduler against the real single-node Slurm 22.05 of ``dev/slurm-up``.

Jobs run as root on this node, so they write straight into ``tmp_path``. Every job name carries
a fresh tag: reruns never see an earlier run's jobs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.nights import Night, make_night

from osa_core.engine import Engine
from osa_core.model.actions import Selection
from osa_core.model.config import load_config
from osa_core.model.errors import SchedulerUnreachable
from osa_core.model.states import JobState
from osa_core.scheduler.base import JobRequest, TaskInfo
from osa_core.scheduler.slurm import commands as cmd
from osa_core.scheduler.slurm.backend import SlurmScheduler, slurm_available

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]
SLURM_UP = ROOT / "dev" / "slurm-up"
TIMEOUT = 5.0


class CountingSlurm(SlurmScheduler):
    """Records every command it runs, to prove how many calls a query costs."""

    def __init__(self, command_timeout: float, partition: str | None = None) -> None:
        super().__init__(command_timeout, partition)
        self.calls: list[list[str]] = []

    async def _run(self, argv: list[str], **kw: Any) -> str:
        self.calls.append(argv)
        return await super()._run(argv, **kw)


def write_script(path: Path, body: str) -> str:
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def make_request(tmp_path: Path, name: str, script: str, **kw: object) -> JobRequest:
    return JobRequest(
        name=name,
        script=script,
        workdir=str(tmp_path),
        stdout=str(tmp_path / f"{name}_%A_%a.out"),
        stderr=str(tmp_path / f"{name}_%A_%a.err"),
        **kw,  # type: ignore[arg-type]
    )


async def wait_until(
    sched: SlurmScheduler,
    names: Sequence[str],
    since: dt.datetime,
    ids: Sequence[str],
    done: Callable[[dict[tuple[str, int | None], TaskInfo]], bool],
    timeout: float = 90.0,
) -> dict[tuple[str, int | None], TaskInfo]:
    deadline = time.monotonic() + timeout
    while True:
        tasks = {(t.job_id, t.array_index): t for t in await sched.query(names, since, ids)}
        if done(tasks):
            return tasks
        if time.monotonic() > deadline:
            pytest.fail(f"SLURM did not get there in {timeout} s: {sorted(tasks.items())}")
        await asyncio.sleep(0.5)


def slurm_up(option: str) -> None:
    subprocess.run([str(SLURM_UP), option], check=True, timeout=120)


async def test_night_lifecycle(slurm_cluster: str, tmp_path: Path) -> None:
    assert slurm_available()
    sched = CountingSlurm(TIMEOUT, partition=slurm_cluster)
    tag = uuid.uuid4().hex[:8]
    name = {k: f"OSATEST_{tag}_{k}" for k in ("array", "after", "mixed", "never")}
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    out = tmp_path / "out"
    out.mkdir()

    ok = write_script(
        tmp_path / "ok.sh", f'sleep 1\necho "$(hostname -s)" > {out}/array_$SLURM_ARRAY_TASK_ID'
    )
    mixed = write_script(
        tmp_path / "mixed.sh",
        'sleep 1\ncase "$SLURM_ARRAY_TASK_ID" in 1) exit 3;; 3) sleep 60;; esac\nexit 0',
    )
    array_id = await sched.submit(make_request(tmp_path, name["array"], ok, array=(0, 1, 2)))
    # An inline script goes through /dev/stdin: its arguments and the request's env still arrive.
    inline = f'#!/bin/bash\necho "$1 $OSA_TEST_VALUE" > {out}/after\n'
    after_id = await sched.submit(
        make_request(
            tmp_path,
            name["after"],
            inline,
            after_ok=(array_id,),
            args=("first-arg",),
            env=(("OSA_TEST_VALUE", "a,b c"),),
        )
    )
    mixed_id = await sched.submit(make_request(tmp_path, name["mixed"], mixed, array=(0, 1, 2, 3)))
    never_id = await sched.submit(
        make_request(tmp_path, name["never"], ok, after_ok=(mixed_id,), comment="waits on a failure")
    )
    names = list(name.values())
    ids = [array_id, after_id, mixed_id, never_id]
    try:
        await wait_until(
            sched, names, since, ids, lambda t: (mixed_id, 3) in t and t[(mixed_id, 3)].state.active
        )
        await sched.cancel(mixed_id, [3])

        def settled(t: dict[tuple[str, int | None], TaskInfo]) -> bool:
            keys = [(array_id, i) for i in range(3)] + [(after_id, None)] + [(mixed_id, i) for i in range(4)]
            return all(k in t and t[k].state.finished for k in keys) and (never_id, None) in t

        tasks = await wait_until(sched, names, since, ids, settled)

        before = len(sched.calls)
        tasks = {(t.job_id, t.array_index): t for t in await sched.query(names, since, ids)}
        # one sacct call for the night, and one squeue because a task is pending: sacct's
        # reason and pending ranges go stale, slurmctld's are live
        assert [c[0] for c in sched.calls[before:]] == ["sacct", "squeue"]
        assert len(tasks) == 3 + 1 + 4 + 1

        host = socket.gethostname().split(".")[0]
        now = dt.datetime.now(dt.UTC)
        for i in range(3):
            t = tasks[(array_id, i)]
            assert (t.state, t.exit_code, t.node, t.name) == (JobState.COMPLETED, 0, host, name["array"])
            assert t.submit and t.start and t.end and t.submit <= t.start <= t.end <= now
            assert t.submit > since - dt.timedelta(minutes=1), "times are UTC-aware and right"
            assert (out / f"array_{i}").read_text().strip() == host
        assert tasks[(after_id, None)].state is JobState.COMPLETED
        array_end = max(tasks[(array_id, i)].end or now for i in range(3))
        assert (tasks[(after_id, None)].start or dt.datetime.min.replace(tzinfo=dt.UTC)) >= array_end
        assert (out / "after").read_text() == "first-arg a,b c\n"

        failed = tasks[(mixed_id, 1)]
        assert (failed.state, failed.exit_code, failed.signal) == (JobState.FAILED, 3, None)
        assert tasks[(mixed_id, 0)].state is JobState.COMPLETED
        assert tasks[(mixed_id, 3)].state is JobState.CANCELLED

        # The job waiting on the failed array stays pending; squeue has the live reason.
        assert tasks[(never_id, None)].state is JobState.PENDING
        assert tasks[(never_id, None)].reason in ("Dependency", "DependencyNeverSatisfied")
        reasons: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while reasons.get(never_id) != "DependencyNeverSatisfied" and time.monotonic() < deadline:
            reasons = await sched.pending_reasons(ids)
            await asyncio.sleep(0.5)
        assert reasons == {never_id: "DependencyNeverSatisfied"}
        assert await sched.pending_reasons([array_id]) == {}  # finished job: squeue lists nothing

        # Re-arm: the pending job now waits on the completed array, so it runs.
        await sched.set_dependency(never_id, [array_id])
        tasks = await wait_until(sched, names, since, ids, lambda t: t[(never_id, None)].state.finished)
        assert tasks[(never_id, None)].state is JobState.COMPLETED
    finally:
        for job in ids:  # no-ops once finished; a failed test leaves nothing queued
            await sched.cancel(job)


async def test_an_array_task_asked_by_its_own_id_answers_for_itself(
    slurm_cluster: str, tmp_path: Path
) -> None:
    """What a refresh asks when only a straggler of an array can still change (``JOB_INDEX``,
    ``SlurmScheduler.task_ids``): sacct answers for that task alone, its batch step folded in,
    until it ends. A pending task not started yet has no record of its own (the reason a job
    with one is asked whole): asked by its id, sacct says nothing of it."""
    sched = CountingSlurm(TIMEOUT, partition=slurm_cluster)
    assert sched.task_ids
    name = f"OSATEST_{uuid.uuid4().hex[:8]}_straggler"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    script = write_script(tmp_path / "straggler.sh", '[ "$SLURM_ARRAY_TASK_ID" = 2 ] && sleep 15\nexit 0')
    job = await sched.submit(make_request(tmp_path, name, script, array=(0, 1, 2, 3)))
    held = await sched.submit(make_request(tmp_path, name, script, array=(0, 1), extra=("--hold",)))
    try:
        await wait_until(
            sched,
            [name],
            since,
            [job],
            lambda t: (
                t.get((job, 2)) is not None
                and t[(job, 2)].state is JobState.RUNNING
                and all(
                    t.get((job, i)) is not None and t[(job, i)].state is JobState.COMPLETED for i in (0, 1, 3)
                )
            ),
        )
        alone = await sched.query([name], since, [f"{job}_2"])
        assert [(t.job_id, t.array_index, t.state) for t in alone] == [(job, 2, JobState.RUNNING)]
        assert "--jobs=" + f"{job}_2" in sched.calls[-1]
        assert await sched.query([name], since, [f"{held}_1"]) == []
        ended = await wait_until(sched, [name], since, [f"{job}_2"], lambda t: t[(job, 2)].state.finished)
        assert list(ended) == [(job, 2)]
        assert ended[(job, 2)].state is JobState.COMPLETED and ended[(job, 2)].exit_code == 0
    finally:
        await sched.cancel(job)
        await sched.cancel(held)


async def test_hold_release_and_pending_range(slurm_cluster: str, tmp_path: Path) -> None:
    sched = SlurmScheduler(TIMEOUT)
    name = f"OSATEST_{uuid.uuid4().hex[:8]}_held"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    script = write_script(tmp_path / "quick.sh", "sleep 1")
    # Submitted held (no race with the scheduler starting a task before hold() lands).
    req = make_request(tmp_path, name, script, array=(1, 3, 5, 6, 7), throttle=2, extra=("--hold",))
    job = await sched.submit(req)
    try:
        # Held and never started: without its id sacct would not list it at all.
        tasks = await wait_until(sched, [name], since, [job], lambda t: len(t) == 5)
        assert sorted(i or 0 for _, i in tasks) == [1, 3, 5, 6, 7]
        assert all(t.state is JobState.PENDING and t.node is None for t in tasks.values())
        assert await sched.pending_reasons([job]) == {job: "JobHeldUser"}
        await sched.hold(job)  # root's hold is an administrator's hold
        assert await sched.pending_reasons([job]) == {job: "JobHeldAdmin"}
        await sched.release(job)
        tasks = await wait_until(
            sched, [name], since, [job], lambda t: all(x.state.finished for x in t.values())
        )
        assert {t.state for t in tasks.values()} == {JobState.COMPLETED}
    finally:
        await sched.cancel(job)  # a no-op once it finished; frees the node if the test failed


async def test_controller_down(slurm_cluster: str, tmp_path: Path) -> None:
    """slurmctld down: everything that talks to it is unreachable within command_timeout.

    sacct reads slurmdbd, not slurmctld, so ``query`` still answers from the accounting
    database (checked here, as it is what Slurm does); ``ping``/``pending_reasons`` tell.
    """
    sched = SlurmScheduler(3.0)
    name = f"OSATEST_{uuid.uuid4().hex[:8]}_down"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    script = write_script(tmp_path / "quick.sh", "true")
    await sched.ping()
    slurm_up("--stop-ctld")
    try:
        calls: list[Callable[[], Awaitable[object]]] = [
            sched.ping,
            lambda: sched.pending_reasons(["1"]),
            lambda: sched.submit(make_request(tmp_path, name, script)),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(SchedulerUnreachable, match="slurmctld"):
                await call()
            assert time.monotonic() - started < 3.0 + 5.0  # bounded by ours, not the 10-20 s of its own
        assert await sched.query([name], since, ["1"]) == []  # the database still answers
        # ...but not by name alone: that needs the controller's queue (what sacct hides)
        with pytest.raises(SchedulerUnreachable, match="slurmctld"):
            await sched.query([name], since)
    finally:
        slurm_up("--start-ctld")
    await sched.ping()
    job = await sched.submit(make_request(tmp_path, name, script))
    tasks = await wait_until(sched, [name], since, [job], lambda t: (job, None) in t)
    assert tasks[(job, None)].name == name


async def test_accounting_down_makes_query_unreachable(slurm_cluster: str) -> None:
    sched = SlurmScheduler(3.0)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    slurm_up("--stop-dbd")
    try:
        started = time.monotonic()
        with pytest.raises(SchedulerUnreachable, match=r"^slurmdbd is not answering \(sacct: "):
            await sched.query(["OSATEST_none"], since)
        assert time.monotonic() - started < 3.0 + 5.0
    finally:
        slurm_up("--start-dbd")
    assert await sched.query(["OSATEST_none"], since) == []


async def test_query_without_pending_is_one_sacct_call(tmp_path: Path, slurm_cluster: str) -> None:
    sched = CountingSlurm(TIMEOUT, partition=slurm_cluster)
    name = f"one_{uuid.uuid4().hex[:8]}"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    job = await sched.submit(make_request(tmp_path, name, write_script(tmp_path / "ok.sh", "true")))
    await wait_until(
        sched, [name], since, [job], lambda t: (job, None) in t and t[(job, None)].state.finished
    )
    before = len(sched.calls)
    await sched.query([name], since, [job])
    assert [c[0] for c in sched.calls[before:]] == ["sacct"]


async def test_index_cancelled_before_it_started_is_cancelled(tmp_path: Path, slurm_cluster: str) -> None:
    """sacct keeps a never-split pending range as submitted; squeue tells the index is gone."""
    sched = SlurmScheduler(TIMEOUT, partition=slurm_cluster)
    name = f"held_{uuid.uuid4().hex[:8]}"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    job = await sched.submit(
        make_request(tmp_path, name, write_script(tmp_path / "s.sh", "sleep 30"), array=(0, 1, 2))
    )
    await sched.hold(job)
    try:
        # Cancelled once the accounting database lists the range: it keeps listing it whole.
        # (Cancelled before that, the index is never listed at all: the engine's own record of
        # the cancellation covers that, see the engine test below.)
        await wait_until(sched, [name], since, [job], lambda t: (job, 1) in t)
        await sched.cancel(job, [1])
        tasks = await wait_until(
            sched, [name], since, [job], lambda t: (job, 1) in t and t[(job, 1)].state is JobState.CANCELLED
        )
        assert tasks[(job, 1)].state is JobState.CANCELLED
        assert tasks[(job, 0)].state is JobState.PENDING
        assert tasks[(job, 0)].reason in ("JobHeldUser", "JobHeldAdmin")
    finally:
        await sched.cancel(job)


def scontrol(*args: str) -> None:
    subprocess.run(["scontrol", *args], check=True, timeout=30, capture_output=True)


async def test_a_query_by_name_sees_a_job_waiting_on_a_dependency(tmp_path: Path, slurm_cluster: str) -> None:
    """sacct by name hides a job that is not eligible (waiting on afterok): a recovery after a
    crash looks for a cut-off submission by name and would call it lost. The query adds the
    queue's jobs of those names."""
    sched = CountingSlurm(TIMEOUT, partition=slurm_cluster)
    tag = uuid.uuid4().hex[:8]
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    script = write_script(tmp_path / "ok.sh", "true")
    parent = await sched.submit(make_request(tmp_path, f"par_{tag}", script))
    await sched.hold(parent)
    child = await sched.submit(
        make_request(tmp_path, f"kid_{tag}", script, array=(0, 1, 2), after_ok=(parent,))
    )
    try:
        hidden = subprocess.run(
            [*cmd.sacct_argv([f"kid_{tag}"], since)[:-1], "--format=JobID,State"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env={**os.environ, "TZ": "UTC"},
        ).stdout
        assert child not in hidden, "the case this test is about: sacct by name does not list it"
        tasks = {(t.job_id, t.array_index): t for t in await sched.query([f"kid_{tag}"], since)}
        assert sorted(tasks) == [(child, 0), (child, 1), (child, 2)], tasks
        assert all(t.state is JobState.PENDING and t.name == f"kid_{tag}" for t in tasks.values())
        assert all(t.submit is not None and t.submit >= since for t in tasks.values())
    finally:
        await sched.cancel(child)
        await sched.cancel(parent)


async def test_a_sweep_reads_a_requeued_task_pending_before_the_accounting_does(
    tmp_path: Path, slurm_cluster: str
) -> None:
    """scontrol requeue puts a finished task back in slurmctld's queue at once; slurmdbd hears
    of it later. The answer sacct gave before the requeue stands in for that lag (it cannot be
    caused on demand here); the queue, squeue's, is the real one."""
    sched = CountingSlurm(TIMEOUT, partition=slurm_cluster)
    name = f"rq_{uuid.uuid4().hex[:8]}"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    job = await sched.submit(
        make_request(tmp_path, name, write_script(tmp_path / "ok.sh", "true"), array=(0, 1))
    )
    try:
        done = await wait_until(
            sched,
            [name],
            since,
            [job],
            lambda t: all((job, i) in t and t[(job, i)].state is JobState.COMPLETED for i in (0, 1)),
        )
        answer = list(done.values())
        assert await sched.requeued(answer) == answer  # nothing requeued: the answer as it was
        scontrol("requeue", f"{job}_0")
        before = len(sched.calls)
        read = {(t.job_id, t.array_index): t for t in await sched.requeued(answer)}
        assert [c[0] for c in sched.calls[before:]] == ["squeue"]
        again = read[(job, 0)]
        assert again.state is JobState.PENDING, again
        assert again.end is None and again.exit_code is None and again.reason
        assert read[(job, 1)] is done[(job, 1)]  # not requeued: untouched
    finally:
        await sched.cancel(job)


def two_subrun_night(tmp_path: Path, partition: str, data_runs: int) -> Night:
    """A night of 2020-01-27 on the real SLURM: a calibration, then ``data_runs`` data runs of
    two subruns each (0.1 s simulated steps)."""
    summary = tmp_path / "NightSummary_20200127.txt"
    lines = [
        "01000    1 DRS4 2020-01-27 19:00:00 0001 1 1 nan nan nan",
        "01001    1 CALI 2020-01-27 19:10:00 0001 1 1 nan nan nan",
    ]
    lines += [
        f"{1002 + n:05d}    2 DATA 2020-01-27 19:{20 + 10 * n}:00 0001 1 1 nan nan nan"
        for n in range(data_runs)
    ]
    summary.write_text("\n".join(lines) + "\n")
    return make_night(
        tmp_path / "night",
        "slurm",
        {"pipeline": {"simulate": {"default_seconds": 0.1}}},
        night_file=summary,
        partition=partition,
    )


async def refresh_until(engine: Engine, done: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"the night did not get there in {timeout} s: {engine.snapshot.totals}")
        await asyncio.sleep(0.5)
        await engine.refresh()


async def test_a_requeued_finished_task_is_seen_by_the_next_full_sweep(
    tmp_path: Path, slurm_cluster: str
) -> None:
    """A refresh asks only about unfinished jobs; a finished task that SLURM runs again (a real
    ``scontrol requeue`` of a completed array task) is picked up by the next full sweep, and a
    night whose every job is finished costs the scheduler nothing."""
    night = two_subrun_night(tmp_path, slurm_cluster, data_runs=2)
    sched = CountingSlurm(15.0, partition=slurm_cluster)
    engine = Engine(load_config(night.config), dt.date(2020, 1, 27), scheduler=sched)
    try:
        await engine.submit()
        first, second = (s for s in engine.state.sequences if not s.is_calibration)
        held = engine.state.latest((second.seq, 0))
        done = engine.state.latest((first.seq, 1))
        assert held is not None and done is not None
        # The second run waits on the calibration (afterok): held before it can start, it keeps
        # one job of the night unfinished while the first run's array finishes.
        scontrol("hold", held.job_id)

        def first_done() -> bool:
            return all(s.state is JobState.COMPLETED for s in engine.snapshot.subruns[first.seq])

        await refresh_until(engine, first_done)
        ended = engine.snapshot.subrun((first.seq, 1)).end
        assert ended is not None

        # Asked: only the held job (an incremental refresh), not the finished array.
        before = len(sched.calls)
        await engine.refresh()
        sacct = [c for c in sched.calls[before:] if c[0] == "sacct"]
        assert len(sacct) == 1 and f"--jobs={held.job_id}" in sacct[0], sacct

        scontrol("requeue", f"{done.job_id}_1")
        await engine.refresh()
        snap = engine.snapshot
        assert snap.subrun((first.seq, 1)).state is JobState.COMPLETED  # not asked: not seen yet

        # A cold `status` holds only the held job's tasks, yet its sweep folds every task's answer.
        cold = Engine(load_config(night.config), dt.date(2020, 1, 27), scheduler=sched, narrow=True)
        try:
            assert cold.state.unfinished_job_ids() == {held.job_id}
            assert (await cold.refresh()).subrun((first.seq, 1)).state is JobState.COMPLETED
            cold.scope.every = dt.timedelta(0)
            await refresh_until(cold, lambda: cold.snapshot.subrun((first.seq, 1)).state.active, 30)
        finally:
            cold.shutdown()

        engine.scope.every = dt.timedelta(0)  # the full sweep's cadence has come
        await refresh_until(engine, lambda: engine.snapshot.subrun((first.seq, 1)).state.active, 30)
        sweep = [c for c in sched.calls if c[0] == "sacct"][-1]
        assert done.job_id in next(a for a in sweep if a.startswith("--jobs=")).split("=")[1].split(",")
        engine.scope.every = dt.timedelta(hours=1)

        # A requeued task waits ~2 min (BeginTime); let it go now. Once it is unfinished again,
        # its array is asked about at every refresh and its second run is recorded.
        scontrol("update", f"JobId={done.job_id}_1", "StartTime=now")
        await refresh_until(engine, first_done)
        rerun = engine.snapshot.subrun((first.seq, 1))
        assert rerun.end is not None and rerun.end >= ended and rerun.start is not None
        assert rerun.start >= ended

        scontrol("release", held.job_id)
        await refresh_until(engine, lambda: engine.snapshot.finished)
        # Every job finished: a refresh asks the scheduler nothing.
        before = len(sched.calls)
        await engine.refresh()
        await engine.refresh()
        assert sched.calls[before:] == []

        # A correction after the last job finished is not seen by a refresh, but closing asks
        # about every job first and refuses a night that is not complete any more.
        scontrol("requeue", f"{done.job_id}_0")
        await engine.refresh()
        assert engine.snapshot.subrun((first.seq, 0)).state is JobState.COMPLETED
        report = await engine.preview_close()
        assert not report.ok, report
        assert engine.snapshot.subrun((first.seq, 0)).state.active
    finally:
        for rows in engine.state.attempts.values():
            for row in rows:
                await sched.cancel(row.job_id)
        engine.shutdown()


async def test_pending_tasks_counts_our_held_tasks_in_one_squeue_call(
    slurm_cluster: str, tmp_path: Path
) -> None:
    sched = CountingSlurm(TIMEOUT)
    tag = uuid.uuid4().hex[:8]
    script = write_script(tmp_path / "quick.sh", "sleep 1")
    # Submitted held: they stay pending whatever else the shared cluster runs meanwhile.
    ours = await sched.submit(
        make_request(tmp_path, f"OSAPEND{tag}_1", script, array=(0, 1, 2, 3), extra=("--hold",))
    )
    other = await sched.submit(make_request(tmp_path, f"OSAOTHER{tag}", script, extra=("--hold",)))
    try:
        sched.calls.clear()
        assert await sched.pending_tasks(f"OSAPEND{tag}_") == 4  # each array task, not the job
        assert [argv[0] for argv in sched.calls] == ["squeue"]
        await sched.cancel(ours, [0, 1])
        assert await sched.pending_tasks(f"OSAPEND{tag}_") == 2
    finally:
        await sched.cancel(ours)
        await sched.cancel(other)


async def test_a_subrun_cancelled_before_its_array_started_stays_cancelled(
    tmp_path: Path, slurm_cluster: str
) -> None:
    """Slurm 22.05 keeps no line for an index cancelled while its array is one pending range:
    once another task of the array starts, sacct lists that task alone and squeue nothing.
    The engine records the index cancelled when scancel has taken it; the night finishes with
    it cancelled (it used to wait for it for ever), and so a new process reads it."""
    night = two_subrun_night(tmp_path, slurm_cluster, data_runs=1)
    sched = SlurmScheduler(15.0, partition=slurm_cluster)
    engine = Engine(load_config(night.config), dt.date(2020, 1, 27), scheduler=sched)
    try:
        await engine.submit()
        calibration = next(s for s in engine.state.sequences if s.is_calibration)
        (data,) = (s for s in engine.state.sequences if not s.is_calibration)
        calib_task = engine.state.latest((calibration.seq, 0))
        assert calib_task is not None
        # The data array waits on the calibration (afterok): held, the calibration keeps the
        # array one unsplit pending range until the test lets it go.
        scontrol("hold", calib_task.job_id)
        await refresh_until(engine, lambda: engine.snapshot.subrun((data.seq, 1)).state is JobState.PENDING)
        report = await engine.cancel(Selection(keys=frozenset({(data.seq, 1)})))
        assert report.ok, report
        assert engine.snapshot.subrun((data.seq, 1)).state is JobState.CANCELLED

        scontrol("release", calib_task.job_id)
        await refresh_until(engine, lambda: engine.snapshot.finished)
        array_job = engine.state.latest((data.seq, 0)).job_id  # type: ignore[union-attr]
        lines = subprocess.run(
            ["sacct", "-P", "-n", "-X", f"--jobs={array_job}", "--format=JobID,State"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        assert lines == [f"{array_job}_0|COMPLETED"], "the case this test is about: index 1 has no line"
        assert engine.snapshot.subrun((data.seq, 1)).state is JobState.CANCELLED
        assert engine.snapshot.subrun((data.seq, 0)).state is JobState.COMPLETED
        cold = Engine(load_config(night.config), dt.date(2020, 1, 27), scheduler=sched)
        try:
            snap = await cold.refresh(full=True)
            assert snap.subrun((data.seq, 1)).state is JobState.CANCELLED
            assert snap.finished
        finally:
            cold.shutdown()
    finally:
        for rows in engine.state.attempts.values():
            for row in rows:
                await sched.cancel(row.job_id)
        engine.shutdown()
