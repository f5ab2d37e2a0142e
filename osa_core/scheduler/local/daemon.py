"""The local backend's executor: ``python -m osa_core.scheduler.local.daemon --spool DIR --slots N``.

Exactly one per spool (flock on ``daemon.lock``; a second one exits at once, quietly). Every
tick it reaps finished tasks, enforces cancels, wall times and memory, and, when the spool
changed (``PRAGMA data_version``) or a task ended, starts pending tasks FIFO (job id, then index)
while slots are free. It exits after ``--idle-exit`` seconds with nothing running and nothing
startable; the next submit (or a query that sees active work) starts it again.

Tasks run under the wrapper ``local_task`` in their own session; killing the daemon leaves them
running, and the next daemon adopts them (or records NODE_FAIL when they vanished without a
status). See :mod:`osa_core.scheduler.local.task` for why.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import pwd
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from osa_core.model.errors import SchedulerError
from osa_core.model.states import JobState
from osa_core.scheduler.local import proc as procs
from osa_core.scheduler.local.policy import JobLimits, Pending, dependency_state, outcome, plan
from osa_core.scheduler.local.spool import (
    DB_NAME,
    LOCK_NAME,
    STATUS_DIR,
    connect,
    launch_spec,
    remove_pid_file,
    status_file,
    write_pid_file,
)
from osa_core.scheduler.local.task import read_status

TICK = 0.2
FULL_PASS_EVERY = 5.0
"""Seconds between scheduling passes when nothing seems to change: a safety net only."""
MEMORY_POLL = 0.5
"""Seconds between memory checks: a scan of /proc costs ~10 us per process on the machine."""

log = logging.getLogger("osa_core.local_daemon")


@dataclass(slots=True)
class Running:
    task_id: int
    job_id: int
    index: int | None
    pid: int
    """The wrapper's pid: leader of the task's session and process group."""
    start: float
    deadline: float | None
    memory: int | None
    status: Path
    proc: subprocess.Popen[bytes] | None
    """None for a task adopted from a previous daemon (not our child)."""
    kill_reason: str | None = None
    term_sent: float | None = None
    killed: bool = False


class Daemon:
    def __init__(self, spool: Path, slots: int, idle_exit: float, kill_wait: float, lock_fd: int) -> None:
        self.spool = spool
        self.slots = slots
        self.idle_exit = idle_exit
        self.kill_wait = kill_wait
        self.lock_fd = lock_fd
        self.conn = connect(spool)
        self.conn.row_factory = sqlite3.Row
        self.node = socket.gethostname().split(".")[0]
        try:
            self.user = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            self.user = str(os.getuid())
        self.running: dict[int, Running] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.data_version = -1
        self.last_pass = 0.0
        self.dirty = True
        self.last_memory_poll = 0.0
        self.stopping = False

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> int:
        self._adopt()
        idle_since: float | None = None
        while not self.stopping:
            now = time.time()
            if not (self.spool / DB_NAME).exists():
                log.error("spool %s is gone: executor stops", self.spool)
                break
            try:
                self._tick(now)
            except sqlite3.Error as exc:
                # A spool locked beyond the busy timeout is a bad moment, not a reason to stop.
                log.error("spool error, retrying: %s", exc)
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            if self.running:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= self.idle_exit:
                if not self._keep_running_after_idle():
                    break
                idle_since = None
            time.sleep(TICK)
        log.info("executor stops (%d tasks left running)", len(self.running))
        return 0

    def _tick(self, now: float) -> None:
        if self._reap(now):
            self.dirty = True
        self._enforce(now)
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if self.dirty or version != self.data_version or now - self.last_pass >= FULL_PASS_EVERY:
            self.data_version, self.dirty, self.last_pass = version, False, now
            self._pass()

    def _keep_running_after_idle(self) -> bool:
        """Release the spool; stay only if work arrived meanwhile and no other daemon took it.

        A client that commits a job while the lock is still held does not start a daemon; so
        after unlocking we look once more, and a commit after that look finds the lock free.
        """
        remove_pid_file(self.spool)
        fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
        if not self._work_exists():
            return False
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        write_pid_file(self.spool)
        return True

    def _work_exists(self) -> bool:
        if self.conn.execute("SELECT 1 FROM tasks WHERE state = 'RUNNING' LIMIT 1").fetchone():
            return True
        pending, limits, deps = self._load_pending()
        start, _ = plan(pending, limits, deps, Counter(), free=len(pending))
        return bool(start)

    # -- scheduling ------------------------------------------------------------------------
    def _load_pending(self) -> tuple[list[Pending], dict[int, JobLimits], dict[int, str]]:
        rows = self.conn.execute(
            "SELECT task_id, job_id, array_index, held, reason FROM tasks WHERE state = 'PENDING' "
            "ORDER BY job_id, array_index"
        ).fetchall()
        pending = [Pending(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]
        if not pending:
            return [], {}, {}
        job_ids = json.dumps(sorted({p.job_id for p in pending}))
        limits = {
            r[0]: JobLimits(r[1], tuple(json.loads(r[2])))
            for r in self.conn.execute(
                "SELECT job_id, throttle, after_ok FROM jobs "
                "WHERE job_id IN (SELECT value FROM json_each(?))",
                (job_ids,),
            )
        }
        parents = sorted({dep for lim in limits.values() for dep in lim.after_ok})
        states: dict[int, Counter[str]] = {}
        for job_id, state, count in self.conn.execute(
            "SELECT job_id, state, COUNT(*) FROM tasks WHERE job_id IN (SELECT value FROM json_each(?)) "
            "GROUP BY job_id, state",
            (json.dumps(parents),),
        ):
            states.setdefault(job_id, Counter())[state] = count
        deps = {job_id: dependency_state(lim.after_ok, states) for job_id, lim in limits.items()}
        return pending, limits, deps

    def _pass(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for (task_id,) in self.conn.execute(
                "SELECT task_id FROM tasks WHERE state = 'RUNNING' AND cancel_requested = 1 "
                "AND kill_reason IS NULL"
            ).fetchall():
                if task_id in self.running:
                    self._kill(self.running[task_id], JobState.CANCELLED, signal.SIGTERM, time.time())
            pending, limits, deps = self._load_pending()
            running_per_job = Counter(r.job_id for r in self.running.values())
            free = max(0, self.slots - len(self.running))
            start, reasons = plan(pending, limits, deps, running_per_job, free)
            self.conn.executemany(
                "UPDATE tasks SET reason = ? WHERE task_id = ?", [(v, k) for k, v in reasons.items()]
            )
            for task in start:
                self._launch(task)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _job(self, job_id: int) -> dict[str, Any]:
        if job_id not in self.jobs:
            if len(self.jobs) > 1000:
                self.jobs.clear()
            row = self.conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            self.jobs[job_id] = dict(zip(row.keys(), row, strict=True))
        return self.jobs[job_id]

    def _launch(self, task: Pending) -> None:
        """Start one task (inside the pass's transaction: no client can cancel it meanwhile)."""
        job = self._job(task.job_id)
        status = status_file(self.spool, task.job_id, task.index)
        # A fresh clock, not the tick's: the task that freed this slot may have ended after the
        # tick began, and a start before the previous end would look like overlapping slots.
        now = time.time()
        try:
            proc = self._spawn(job, task.index, status)
        except (OSError, SchedulerError) as exc:
            # Slurm fails a job whose log file or working directory cannot be opened.
            log.error("task %s_%s cannot start: %s", task.job_id, task.index, exc)
            self.conn.execute(
                "UPDATE tasks SET state = ?, exit_code = 1, start_time = ?, end_time = ?, node = ?, "
                "reason = ? WHERE task_id = ?",
                (JobState.FAILED, now, now, self.node, f"cannot start: {exc}", task.task_id),
            )
            self.dirty = True
            return
        self.conn.execute(
            "UPDATE tasks SET state = ?, start_time = ?, node = ?, pid = ?, reason = NULL WHERE task_id = ?",
            (JobState.RUNNING, now, self.node, proc.pid, task.task_id),
        )
        walltime = job["walltime"]
        self.running[task.task_id] = Running(
            task.task_id,
            task.job_id,
            task.index,
            proc.pid,
            now,
            None if walltime is None else now + walltime,
            job["memory"],
            status,
            proc,
        )
        log.info("task %s_%s started, pid %d", task.job_id, task.index, proc.pid)

    def _spawn(self, job: dict[str, Any], index: int | None, status: Path) -> subprocess.Popen[bytes]:
        spec = launch_spec(self.spool, job, index, node=self.node, user=self.user)
        status.parent.mkdir(exist_ok=True)
        status.unlink(missing_ok=True)
        with open(spec.stdout, "wb") as out:
            err = out if spec.stderr == spec.stdout else open(spec.stderr, "wb")  # noqa: SIM115
            try:
                return subprocess.Popen(
                    procs.wrapper_argv(sys.executable, status, spec.command),
                    cwd=spec.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=spec.env,
                    start_new_session=True,
                )
            finally:
                if err is not out:
                    err.close()

    # -- running tasks ---------------------------------------------------------------------
    def _reap(self, now: float) -> bool:
        done: list[Running] = []
        for run in self.running.values():
            if run.proc is None:
                if not procs.wrapper_alive(run.pid, run.status):
                    done.append(run)
                continue
            try:
                # WNOWAIT: the wrapper stays a zombie, so its group id cannot be reused while we
                # kill what the script left behind (Slurm, too, ends every process of a job).
                exited = os.waitid(os.P_PID, run.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                pass  # reaped already (cannot happen unless SIGCHLD is ignored): the status tells
            else:
                if exited is None:
                    continue
                procs.signal_task(run.pid, signal.SIGKILL)
            run.proc.wait()
            done.append(run)
        if done:
            self._record(done, now)
        return bool(done)

    def _record(self, done: list[Running], now: float) -> None:
        statuses = {run.task_id: read_status(run.status) for run in done}
        outcomes = [
            (run, *outcome(run.kill_reason, run.proc is None, statuses[run.task_id], returncode(run), now))
            for run in done
        ]
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for run, state, exit_code, signum, end, reason in outcomes:
                st = statuses[run.task_id]
                self.conn.execute(
                    "UPDATE tasks SET state = ?, exit_code = ?, signal = ?, end_time = ?, reason = ?, "
                    "max_rss = ?, cpu_seconds = ? WHERE task_id = ?",
                    (state, exit_code, signum, end, reason, st and st.max_rss, st and st.cpu, run.task_id),
                )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        for run, state, exit_code, signum, *_ in outcomes:
            del self.running[run.task_id]
            run.status.unlink(missing_ok=True)  # the spool database holds it now
            log.info("task %s_%s %s (exit %s:%s)", run.job_id, run.index, state, exit_code, signum or 0)

    def _enforce(self, now: float) -> None:
        for run in list(self.running.values()):
            if run.kill_reason is None and run.deadline is not None and now >= run.deadline:
                self._kill(run, JobState.TIMEOUT, signal.SIGTERM, now)
            if run.term_sent is not None and not run.killed and now - run.term_sent >= self.kill_wait:
                procs.signal_task(run.pid, signal.SIGKILL)
                run.killed = True
        limited = [r for r in self.running.values() if r.memory and r.kill_reason is None]
        if limited and now - self.last_memory_poll >= MEMORY_POLL:
            self.last_memory_poll = now
            # Polling, not a cgroup: a spike shorter than a tick can escape, and a task over its
            # limit is killed at the next tick rather than at the allocation.
            snapshot = procs.all_procs()
            for run in limited:
                if procs.session_rss(snapshot, run.pid) > (run.memory or 0):
                    self._kill(run, JobState.OUT_OF_MEMORY, signal.SIGKILL, now)

    def _kill(self, run: Running, reason: JobState, signum: signal.Signals, now: float) -> None:
        if run.proc is None and not procs.wrapper_alive(run.pid, run.status):
            return  # adopted and already gone: the next reap records it
        # Persisted first, so a daemon restarted before the task dies still knows why it died.
        self.conn.execute("UPDATE tasks SET kill_reason = ? WHERE task_id = ?", (reason, run.task_id))
        run.kill_reason = reason
        procs.signal_task(run.pid, signum)
        if signum == signal.SIGKILL:
            run.killed = True
        else:
            run.term_sent = now
        log.info("task %s_%s: %s, sent %s", run.job_id, run.index, reason, signum.name)

    def _adopt(self) -> None:
        """Take over the tasks of a previous daemon: running ones are watched, vanished ones
        recorded from their status file (or as NODE_FAIL), and a task started just before a
        crash, whose start was never committed, is found by its wrapper's command line."""
        wrappers = procs.find_wrappers(self.spool / STATUS_DIR)
        now = time.time()
        vanished: list[Running] = []
        rows = self.conn.execute(
            "SELECT t.task_id, t.job_id, t.array_index, t.state, t.start_time, t.kill_reason, "
            "t.cancel_requested, "
            "j.walltime, j.memory FROM tasks t JOIN jobs j USING (job_id) "
            "WHERE t.state IN ('RUNNING', 'PENDING')"
        ).fetchall()
        for row in rows:
            status = status_file(self.spool, row["job_id"], row["array_index"])
            pid = wrappers.get(status)
            if row["state"] == JobState.PENDING:
                if pid is None:
                    continue
                self.conn.execute(
                    "UPDATE tasks SET state = ?, start_time = ?, node = ?, pid = ?, reason = NULL "
                    "WHERE task_id = ?",
                    (JobState.RUNNING, now, self.node, pid, row["task_id"]),
                )
            start = row["start_time"] or now
            run = Running(
                row["task_id"],
                row["job_id"],
                row["array_index"],
                pid or 0,
                start,
                None if row["walltime"] is None else start + row["walltime"],
                row["memory"],
                status,
                None,
                # A cancel asked while no daemon ran: the task is cancelled even if it vanished.
                row["kill_reason"] or (JobState.CANCELLED if row["cancel_requested"] else None),
            )
            if pid is None:
                vanished.append(run)
            else:
                self.running[run.task_id] = run
                log.info("adopted task %s_%s, pid %d", run.job_id, run.index, pid)
        for run in vanished:
            self.running[run.task_id] = run
        if vanished:
            self._record(vanished, now)


def returncode(run: Running) -> int | None:
    return None if run.proc is None else run.proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local_daemon", description=__doc__.split("\n")[0])
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--slots", type=int, default=0, help="tasks at once; 0: the number of CPUs")
    parser.add_argument("--idle-exit", type=float, default=120.0, help="seconds idle before exiting")
    parser.add_argument("--kill-wait", type=float, default=10.0, help="seconds from SIGTERM to SIGKILL")
    parser.add_argument("--detach", action="store_true", help="fork once the lock is held; parent exits")
    args = parser.parse_args(argv)
    spool: Path = args.spool.resolve()
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_fd = os.open(spool / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another daemon serves this spool
    if args.detach and os.fork() > 0:
        # The child inherits the locked file description: the lock is held before we return,
        # so the client that started us sees a daemon as soon as we exit.
        os._exit(0)
    logging.Formatter.converter = time.gmtime
    logging.basicConfig(level=logging.INFO, format="%(asctime)sZ %(process)d %(levelname)s %(message)s")
    write_pid_file(spool)
    slots = args.slots if args.slots > 0 else (os.cpu_count() or 1)
    daemon = Daemon(spool, slots, args.idle_exit, args.kill_wait, lock_fd)

    def stop(signum: int, frame: FrameType | None) -> None:
        daemon.stopping = True  # tasks keep running; the next daemon adopts them

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("executor started on %s: spool %s, %d slots", daemon.node, spool, slots)
    try:
        return daemon.run()
    finally:
        remove_pid_file(spool)


if __name__ == "__main__":
    sys.exit(main())
