"""The ``local`` backend: Slurm's semantics on one machine, for the demo, laptops and small sites.

Clients (this class, in the engine or a console) write jobs into a spool database and read task
states from it; one executor daemon per spool (:mod:`osa_core.scheduler.local.daemon`) runs the
tasks and records how they end. The daemon is started on demand and exits when idle; finished
tasks stay in the spool, so an engine restart forgets nothing.

What Slurm does and this backend mirrors: job ids from 1000 up, arrays with chosen indices and a
``%throttle``, ``afterok`` with ``DependencyNeverSatisfied``, hold/release, pending reasons, the
states and exit codes (``0:9`` for a signal), log files expanded from ``%A``/``%a``/``%4a``/``%j``,
the script copied at submission and run through its ``#!`` line, the submitter's environment
plus ``SLURM_*`` variables. Ignored: partition, account, extra sbatch options. Its one node is
this machine: excluding another node is met, excluding this one is refused.

Limits: memory is watched by polling the task's RSS (every 0.5 s), not fenced by a cgroup, so a
short spike can pass; the spool must sit on a local file system (SQLite WAL and flock are not
safe on NFS); an array task's ``SLURM_JOB_ID`` is the master id, not a per-task id as on Slurm;
a task whose wrapper vanished while no daemon ran is NODE_FAIL, its end time when that was seen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from osa_core.model.errors import SchedulerError, SchedulerUnreachable
from osa_core.model.fileio import atomic_write
from osa_core.model.states import JobState
from osa_core.model.usage import Usage
from osa_core.scheduler.base import JobRequest, Scheduler, TaskInfo
from osa_core.scheduler.local import proc as procs
from osa_core.scheduler.local.policy import REASON_HELD, REASON_NEVER
from osa_core.scheduler.local.spool import (
    DB_NAME,
    LOCK_NAME,
    LOG_NAME,
    PID_NAME,
    connect,
    count_pending,
    from_epoch,
    interpreter,
    parse_memory,
    parse_walltime,
    script_file,
    to_epoch,
)

DAEMON_START_TIMEOUT = 15.0
DAEMON_MODULE = "osa_core.scheduler.local.daemon"
DAEMON_MODULES = (DAEMON_MODULE, "osa_core.scheduler.local_daemon")
"""The executor's module now, and before the package was arranged in rooms (2026-11): a daemon
started by the previous version keeps serving its spool (the spool is the same) and is stopped
like a new one."""

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])


class LocalScheduler(Scheduler):
    """A spool directory and the executor daemon serving it."""

    name = "local"

    def __init__(
        self, spool: Path, slots: int = 0, idle_exit: float = 120.0, kill_wait: float = 10.0
    ) -> None:
        self.spool = Path(spool).resolve()
        self.slots = slots if slots > 0 else (os.cpu_count() or 1)
        """Tasks at once. A daemon already serving the spool keeps the slots it started with."""
        self.idle_exit = idle_exit
        self.kill_wait = kill_wait
        """Seconds between SIGTERM and SIGKILL on cancel and wall time (Slurm's KillWait)."""

    # -- Scheduler interface ---------------------------------------------------------------
    async def submit(self, request: JobRequest) -> str:
        return await asyncio.to_thread(self._submit, request)

    async def query(
        self, names: Sequence[str], since: dt.datetime, job_ids: Sequence[str] = ()
    ) -> list[TaskInfo]:
        # The spool sees every job, eligible or not; the ids only narrow the answer, as in sacct.
        return await asyncio.to_thread(self._query, list(names), since, [_job_number(j) for j in job_ids])

    async def cancel(self, job_id: str, indices: Sequence[int] | None = None) -> None:
        await asyncio.to_thread(self._cancel, job_id, None if indices is None else list(indices))

    async def set_dependency(self, job_id: str, after_ok: Sequence[str]) -> None:
        await asyncio.to_thread(self._set_dependency, job_id, list(after_ok))

    async def pending_tasks(self, name_prefix: str) -> int:
        return await asyncio.to_thread(self._pending, name_prefix)

    async def hold(self, job_id: str) -> None:
        await asyncio.to_thread(self._hold, job_id, True)

    async def release(self, job_id: str) -> None:
        await asyncio.to_thread(self._hold, job_id, False)

    # -- the work, in a thread -------------------------------------------------------------
    def _submit(self, request: JobRequest) -> str:
        indices = _indices(request.array)
        walltime = parse_walltime(request.walltime)
        memory = parse_memory(request.memory)
        if request.throttle < 0:
            raise SchedulerError(f"invalid array throttle {request.throttle}")
        here = socket.gethostname().split(".")[0]  # the daemon's node name (daemon.py)
        if here in request.exclude:
            # As Slurm, which refuses a job that excludes every node: it could never run.
            raise SchedulerError(
                f"the local backend has one node, this machine ({here}): it cannot be excluded"
            )
        parents = [_job_number(job) for job in request.after_ok]
        text = _script_text(request.script)
        interpreter(text)  # sbatch refuses a script without #!; refuse it now, not at run time
        env = dict(os.environ)
        env.update(dict(request.env))
        now = time.time()
        with _transaction(self.spool) as conn:
            for parent in parents:
                if conn.execute("SELECT 1 FROM jobs WHERE job_id = ?", (parent,)).fetchone() is None:
                    raise SchedulerError(f"job dependency problem: job {parent} does not exist")
            cursor = conn.execute(
                "INSERT INTO jobs (name, script, args, workdir, submit_dir, stdout, stderr, array, "
                "throttle, after_ok, walltime, memory, comment, env, submitted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request.name,
                    request.script if "\n" not in request.script else "<inline>",
                    json.dumps(list(request.args)),
                    str(Path(request.workdir).resolve()),
                    os.getcwd(),
                    request.stdout,
                    request.stderr,
                    None if indices is None else json.dumps(indices),
                    request.throttle,
                    json.dumps(parents),
                    walltime,
                    memory,
                    request.comment,
                    json.dumps(env),
                    now,
                ),
            )
            job_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO tasks (job_id, array_index, state) VALUES (?, ?, 'PENDING')",
                [(job_id, index) for index in (indices if indices is not None else [None])],
            )
            # Like sbatch, keep a copy of the script as it is now: later edits do not change the job.
            atomic_write(script_file(self.spool, job_id), text, mode=0o755)
        self._ensure_daemon()
        return str(job_id)

    def _query(self, names: list[str], since: dt.datetime, job_ids: list[int]) -> list[TaskInfo]:
        only = " AND j.job_id IN (SELECT value FROM json_each(?))" if job_ids else ""
        conn = _open(self.spool)
        try:
            rows = conn.execute(
                "SELECT t.job_id, t.array_index, j.name, t.state, t.exit_code, t.signal, t.node, "
                "j.submitted, t.start_time, t.end_time, t.reason, "
                "t.max_rss, t.cpu_seconds, j.memory, j.walltime "
                "FROM jobs j JOIN tasks t USING (job_id) "
                "WHERE j.name IN (SELECT value FROM json_each(?)) AND j.submitted >= ?" + only + " "
                "ORDER BY t.job_id, t.array_index",
                (json.dumps(names), to_epoch(since), *([json.dumps(job_ids)] if job_ids else [])),
            ).fetchall()
        finally:
            conn.close()
        tasks = [
            TaskInfo(
                job_id=str(r[0]),
                array_index=r[1],
                name=r[2],
                state=JobState(r[3]),
                exit_code=r[4],
                signal=r[5],
                node=r[6],
                submit=from_epoch(r[7]),
                start=from_epoch(r[8]),
                end=from_epoch(r[9]),
                reason=r[10],
                usage=_usage(r[11:15]),
            )
            for r in rows
        ]
        # Self-healing: a daemon that died (killed, machine rebooted) is restarted by the next
        # refresh that sees work it should be doing, not only by the next submit.
        if any(
            t.state == JobState.RUNNING or (t.state == JobState.PENDING and t.reason not in _FROZEN)
            for t in tasks
        ):
            self._ensure_daemon()
        return tasks

    def _pending(self, prefix: str) -> int:
        conn = _open(self.spool)
        try:
            return count_pending(conn, prefix)
        finally:
            conn.close()

    def _cancel(self, job_id: str, indices: list[int] | None) -> None:
        number = _job_number(job_id)
        now = time.time()
        with _transaction(self.spool) as conn:
            array = self._job_array(conn, number)
            if indices is not None and array is None:
                raise SchedulerError(f"job {number} is not an array: cannot cancel indices {indices}")
            which = "job_id = ?"
            params: tuple[object, ...] = (number,)
            if indices is not None:
                which += " AND array_index IN (SELECT value FROM json_each(?))"
                params += (json.dumps(indices),)
            conn.execute(
                f"UPDATE tasks SET state = 'CANCELLED', end_time = ?, reason = NULL "
                f"WHERE {which} AND state = 'PENDING'",
                (now, *params),
            )
            # Running tasks are the daemon's: it signals their session and records CANCELLED.
            flagged = conn.execute(
                f"UPDATE tasks SET cancel_requested = 1 WHERE {which} AND state = 'RUNNING'", params
            ).rowcount
        if flagged:
            self._ensure_daemon()

    def _set_dependency(self, job_id: str, after_ok: list[str]) -> None:
        number = _job_number(job_id)
        parents = [_job_number(parent) for parent in after_ok]
        if number in parents:
            raise SchedulerError(f"job {number} cannot depend on itself")
        with _transaction(self.spool) as conn:
            self._job_array(conn, number)
            for parent in parents:
                if conn.execute("SELECT 1 FROM jobs WHERE job_id = ?", (parent,)).fetchone() is None:
                    raise SchedulerError(f"job dependency problem: job {parent} does not exist")
            pending = conn.execute(
                "SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state = 'PENDING'", (number,)
            ).fetchone()[0]
            if not pending:
                raise SchedulerError(f"job {number} has no pending task: its dependency cannot change")
            conn.execute("UPDATE jobs SET after_ok = ? WHERE job_id = ?", (json.dumps(parents), number))
            conn.execute(
                "UPDATE tasks SET reason = NULL WHERE job_id = ? AND state = 'PENDING' AND held = 0",
                (number,),
            )
        self._ensure_daemon()

    def _hold(self, job_id: str, hold: bool) -> None:
        number = _job_number(job_id)
        with _transaction(self.spool) as conn:
            self._job_array(conn, number)
            conn.execute(
                "UPDATE tasks SET held = ?, reason = ? WHERE job_id = ? AND state = 'PENDING'",
                (int(hold), REASON_HELD if hold else None, number),
            )
        if not hold:
            self._ensure_daemon()

    @staticmethod
    def _job_array(conn: sqlite3.Connection, number: int) -> list[int] | None:
        row = conn.execute("SELECT array FROM jobs WHERE job_id = ?", (number,)).fetchone()
        if row is None:
            raise SchedulerError(f"invalid job id {number}: no such job in the local spool")
        return None if row[0] is None else list(json.loads(row[0]))

    # -- the daemon ------------------------------------------------------------------------
    def _ensure_daemon(self) -> None:
        """Start the executor unless one holds the spool's lock (a second one would exit)."""
        if daemon_running(self.spool):
            return
        env = dict(os.environ)
        # The daemon must import this package even where it is not installed.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        command = [
            sys.executable,
            "-m",
            DAEMON_MODULE,
            "--spool",
            str(self.spool),
            "--slots",
            str(self.slots),
            "--idle-exit",
            str(self.idle_exit),
            "--kill-wait",
            str(self.kill_wait),
            "--detach",
        ]
        with open(self.spool / LOG_NAME, "ab") as log:
            try:
                # --detach: the process we wait for exits once the daemon (its child) holds the
                # lock, so no zombie is left in the engine and the next check sees the daemon.
                proc = subprocess.Popen(
                    command,
                    cwd=self.spool,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=env,
                    start_new_session=True,
                )
                code = proc.wait(timeout=DAEMON_START_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SchedulerUnreachable(
                    f"the local executor did not start: {exc}", path=self.spool / LOG_NAME
                ) from exc
        if code != 0:
            raise SchedulerUnreachable(
                f"the local executor failed to start (exit {code}); see its log",
                path=self.spool / LOG_NAME,
            )


_FROZEN = frozenset({REASON_HELD, REASON_NEVER})
"""Pending reasons that no executor can change: no need to start one for them."""


def daemon_running(spool: Path) -> bool:
    """True if an executor holds the spool's lock (probing creates nothing)."""
    try:
        fd = os.open(Path(spool) / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def daemon_pid(spool: Path) -> int | None:
    """The pid of the executor serving ``spool``, or None."""
    try:
        pid = int((Path(spool) / PID_NAME).read_text())
    except (OSError, ValueError):
        return None
    return pid if daemon_running(Path(spool)) else None


def stop_executor(spool: Path, *, kill_tasks: bool = False, timeout: float = 10.0) -> None:
    """Stop the executor of ``spool`` (SIGTERM, then wait for its lock to be free).

    Running tasks keep running and are adopted by the next executor, unless ``kill_tasks``:
    then their sessions get SIGKILL, and the next executor records them as NODE_FAIL.
    """
    spool = Path(spool).resolve()
    if not (spool / DB_NAME).exists():
        return  # never used (another backend's night, or removed): nothing to stop
    pid = daemon_pid(spool)
    if pid is not None and any(module in procs.cmdline(pid) for module in DAEMON_MODULES):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while daemon_running(spool):
        if time.monotonic() > deadline:
            raise SchedulerError(f"the local executor (pid {pid}) did not stop", path=spool)
        time.sleep(0.05)
    if kill_tasks:
        conn = _open(spool)
        try:
            rows = conn.execute(
                "SELECT pid FROM tasks WHERE state = 'RUNNING' AND pid IS NOT NULL"
            ).fetchall()
        finally:
            conn.close()
        for (task_pid,) in rows:
            if procs.wrapper_status(task_pid) is not None:
                procs.signal_task(task_pid, signal.SIGKILL)


class _transaction:
    """``with _transaction(spool) as conn``: one short write transaction on a fresh connection."""

    def __init__(self, spool: Path) -> None:
        self.conn = _open(spool)

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self.conn.close()
            raise SchedulerUnreachable(f"local spool busy: {exc}") from exc
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
        except sqlite3.Error as error:
            raise SchedulerUnreachable(f"local spool write failed: {error}") from error
        finally:
            self.conn.close()


def _open(spool: Path) -> sqlite3.Connection:
    return connect(spool)


def _usage(figures: tuple[Any, ...]) -> Usage | None:
    """(max_rss, cpu_seconds, memory limit, wall time limit) of a task row; None: none known."""
    usage = Usage(*figures)
    return None if usage.empty else usage


def _job_number(job_id: str) -> int:
    try:
        number = int(job_id)
    except (TypeError, ValueError):
        raise SchedulerError(f"invalid job id {job_id!r}: the local backend's ids are numbers")
    return number


def _indices(array: tuple[int, ...] | None) -> list[int] | None:
    if array is None:
        return None
    indices = sorted(set(array))
    if not indices or indices[0] < 0:
        raise SchedulerError(f"invalid array indices {array!r}: need at least one, none negative")
    return indices


def _script_text(script: str) -> str:
    """The script's text: ``script`` is a path, or the script itself when it has several lines."""
    if "\n" in script:
        return script
    try:
        return Path(script).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SchedulerError(f"unable to open batch script: {exc}", path=script) from exc
