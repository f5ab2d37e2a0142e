"""The local backend's spool: one SQLite database (WAL) shared by clients and the executor daemon.

Layout of a spool directory::

    local.db        jobs and tasks (this module's schema)
    daemon.lock     flock held by the one running daemon
    daemon.pid      pid of that daemon (informational; the lock is the truth)
    daemon.log      the daemon's log
    scripts/        the batch script of each job, copied at submission (as sbatch does)
    status/         exit status of each task, written by the task wrapper (local_task)

Several processes (the engine, a console, the daemon) use the database at once: every
transaction is short, and a busy timeout makes writers queue instead of failing.
Times are stored as epoch seconds (REAL) and handed out as timezone-aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osa_core.model.errors import SchedulerError
from osa_core.model.sqlite_wal import switch_to_wal

DB_NAME = "local.db"
LOCK_NAME = "daemon.lock"
PID_NAME = "daemon.pid"
LOG_NAME = "daemon.log"
SCRIPTS_DIR = "scripts"
STATUS_DIR = "status"

SCHEMA_VERSION = 2
FIRST_JOB_ID = 1000
BUSY_TIMEOUT_MS = 30_000

NO_ARRAY_INDEX = 4294967294
"""What Slurm 22.05 prints for ``%a`` (and array fields) of a job that is not an array (NO_VAL)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    script      TEXT NOT NULL,
    args        TEXT NOT NULL,
    workdir     TEXT NOT NULL,
    submit_dir  TEXT NOT NULL,
    stdout      TEXT NOT NULL,
    stderr      TEXT NOT NULL,
    array       TEXT,
    throttle    INTEGER NOT NULL DEFAULT 0,
    after_ok    TEXT NOT NULL DEFAULT '[]',
    walltime    REAL,
    memory      INTEGER,
    comment     TEXT NOT NULL DEFAULT '',
    env         TEXT NOT NULL DEFAULT '{}',
    submitted   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (name, submitted);
CREATE TABLE IF NOT EXISTS tasks (
    task_id          INTEGER PRIMARY KEY,
    job_id           INTEGER NOT NULL REFERENCES jobs (job_id),
    array_index      INTEGER,
    state            TEXT NOT NULL,
    held             INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    kill_reason      TEXT,
    exit_code        INTEGER,
    signal           INTEGER,
    node             TEXT,
    pid              INTEGER,
    start_time       REAL,
    end_time         REAL,
    reason           TEXT,
    max_rss          INTEGER,
    cpu_seconds      REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_by_job ON tasks (job_id, array_index);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state);
"""


def connect(spool: Path) -> sqlite3.Connection:
    """Open (creating if needed) the spool database; autocommit, transactions are explicit."""
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = spool / DB_NAME
    try:
        return _connect(path)
    except sqlite3.Error as exc:
        raise SchedulerError(f"local scheduler spool unusable: {exc}", path=path) from exc


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        switch_to_wal(conn, wait=BUSY_TIMEOUT_MS / 1000)
        # NORMAL is durable across process crashes in WAL mode; only a power cut can lose the
        # last commits, and the spool is rebuilt from what the processes still show then.
        conn.execute("PRAGMA synchronous = NORMAL")
        _ensure_schema(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise SchedulerError(
            f"spool schema version {version} is newer than this program's ({SCHEMA_VERSION})", path=path
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have created it meanwhile.
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            # executescript() would commit on its own; run the statements inside our transaction.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            # Job ids start at FIRST_JOB_ID, so they never look like array indices or counts.
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('jobs', ?)", (FIRST_JOB_ID - 1,))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif conn.execute("PRAGMA user_version").fetchone()[0] == 1:
            # 2: what a task used (its wrapper's wait4), for the engine's efficiency figures
            conn.execute("ALTER TABLE tasks ADD COLUMN max_rss INTEGER")
            conn.execute("ALTER TABLE tasks ADD COLUMN cpu_seconds REAL")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def count_pending(conn: sqlite3.Connection, prefix: str) -> int:
    """Pending tasks of the jobs whose name starts with ``prefix``, every night together."""
    # substr, not LIKE: the "_" of a job name is a LIKE wildcard
    sql = (
        "SELECT COUNT(*) FROM jobs JOIN tasks USING (job_id) "
        "WHERE state = 'PENDING' AND substr(name, 1, ?) = ?"
    )
    return int(conn.execute(sql, (len(prefix), prefix)).fetchone()[0])


def to_epoch(when: dt.datetime) -> float:
    """Epoch seconds; a naive datetime is taken as UTC (everything in this project is UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def from_epoch(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


_WALLTIME = re.compile(
    r"^(?:(?P<days>\d+)-)?(?P<a>\d+)(?::(?P<b>\d+))?(?::(?P<c>\d+))?$",
)


def parse_walltime(text: str | None) -> float | None:
    """Seconds of a Slurm ``--time`` value; None for no limit.

    Accepts Slurm's forms: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``, and
    ``0``/``UNLIMITED``/``INFINITE`` for no limit.
    """
    if text is None:
        return None
    value = text.strip()
    if value.upper() in ("", "UNLIMITED", "INFINITE", "0"):
        return None
    match = _WALLTIME.match(value)
    if match is None:
        raise SchedulerError(f"invalid wall time {text!r}: expected [D-]HH:MM:SS or minutes")
    days, a, b, c = (match.group(k) for k in ("days", "a", "b", "c"))
    parts = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:
        # After a day count the first field is hours (D-H, D-H:M, D-H:M:S).
        hours, minutes, seconds = [*parts, 0, 0][:3]
        total = int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    elif len(parts) == 1:
        total = parts[0] * 60
    elif len(parts) == 2:
        total = parts[0] * 60 + parts[1]
    else:
        total = parts[0] * 3600 + parts[1] * 60 + parts[2]
    if total <= 0:
        return None
    return float(total)


_MEMORY = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[KMGT]?)B?$", re.IGNORECASE)
_UNITS = {"K": 1 << 10, "": 1 << 20, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_memory(text: str | None) -> int | None:
    """Bytes of a Slurm ``--mem`` value (``4G``, ``500M``, ``2048`` = MB as in Slurm); None: no limit."""
    if text is None or not text.strip() or text.strip() == "0":
        return None
    match = _MEMORY.match(text.strip())
    if match is None:
        raise SchedulerError(f"invalid memory {text!r}: expected a size like 500M or 4G")
    return int(float(match.group("n")) * _UNITS[match.group("unit").upper()])


_PATTERN = re.compile(r"%(%|(\d*)([AajxuNn]))")


def expand_pattern(pattern: str, *, job_id: int, index: int | None, name: str, node: str, user: str) -> str:
    """Expand Slurm's filename pattern codes as sbatch does for ``--output``/``--error``.

    ``%A`` array master id, ``%a`` index, ``%j`` job id, ``%x`` name, ``%u`` user, ``%N`` node,
    ``%n`` node id (0), ``%%`` percent; a number after ``%`` zero-pads (``%4a`` -> ``0003``).
    Slurm gives each array task its own numeric job id; here ``%j`` of an array task is
    ``MASTER_INDEX`` (sacct's name for it), unique per task and stable before the task starts.
    For a single job ``%a`` is Slurm's NO_VAL, 4294967294, as Slurm prints it.
    """

    def substitute(match: re.Match[str]) -> str:
        if match.group(1) == "%":
            return "%"
        width = int(match.group(2) or 0)
        code = match.group(3)
        value: str
        if code == "A":
            value = str(job_id)
        elif code == "a":
            value = str(NO_ARRAY_INDEX if index is None else index)
        elif code == "j":
            value = str(job_id) if index is None else f"{job_id}_{index}"
        elif code == "x":
            return name
        elif code == "u":
            return user
        elif code == "N":
            return node
        else:
            value = "0"
        return value.zfill(width)

    return _PATTERN.sub(substitute, pattern)


def status_file(spool: Path, job_id: int, index: int | None) -> Path:
    """Where the wrapper of a task writes its exit status."""
    suffix = "" if index is None else f"_{index}"
    return spool / STATUS_DIR / f"{job_id}{suffix}.json"


def script_file(spool: Path, job_id: int) -> Path:
    return spool / SCRIPTS_DIR / f"{job_id}.sh"


def interpreter(script_text: str) -> list[str]:
    """The interpreter argv of a batch script, from its ``#!`` line, as the kernel splits it.

    sbatch refuses a script without one; so does the local backend. The script is then run as
    ``INTERPRETER [ARG] SCRIPT ARGS...``, which is what exec() of the script would do, without
    needing an executable bit on the spool (often on a noexec /tmp).
    """
    first = script_text.split("\n", 1)[0]
    if not first.startswith("#!") or not first[2:].strip():
        raise SchedulerError("the batch script does not start with #! followed by an interpreter")
    # The kernel passes everything after the interpreter path as one single argument.
    parts = first[2:].strip().split(None, 1)
    return parts


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """What a task runs, where, with which files and environment."""

    command: list[str]
    workdir: Path
    stdout: Path
    stderr: Path
    env: dict[str, str]


def launch_spec(
    spool: Path, job: Mapping[str, Any], index: int | None, *, node: str, user: str
) -> LaunchSpec:
    """The launch of one task of ``job`` (a row of the jobs table); raises if it cannot start."""
    job_id = int(job["job_id"])
    workdir = Path(job["workdir"])
    if not workdir.is_dir():
        raise SchedulerError(f"working directory {workdir} does not exist")
    script = script_file(spool, job_id)
    command = [*interpreter(script.read_text(errors="replace")), str(script), *json.loads(job["args"])]
    # Relative log paths are relative to the working directory, as in Slurm.
    stdout, stderr = (
        workdir / expand_pattern(job[key], job_id=job_id, index=index, name=job["name"], node=node, user=user)
        for key in ("stdout", "stderr")
    )
    return LaunchSpec(command, workdir, stdout, stderr, task_environment(job, index, node=node, user=user))


def task_environment(job: Mapping[str, Any], index: int | None, *, node: str, user: str) -> dict[str, str]:
    """The submitter's environment (Slurm's --export=ALL) plus what Slurm sets in a job."""
    env: dict[str, str] = {
        key: value for key, value in json.loads(job["env"]).items() if not key.startswith("SLURM")
    }  # a submitter inside a Slurm job must not leak its own ids into ours
    job_id = str(job["job_id"])
    env.update(
        SLURM_JOB_ID=job_id,
        SLURM_JOBID=job_id,
        SLURM_JOB_NAME=job["name"],
        SLURM_SUBMIT_DIR=job["submit_dir"],
        SLURM_SUBMIT_HOST=node,
        SLURMD_NODENAME=node,
        SLURM_JOB_NODELIST=node,
        SLURM_NNODES="1",
        SLURM_JOB_USER=user,
        OSA_LOCAL_SCHEDULER="1",
    )
    if index is not None:
        indices = json.loads(job["array"])
        env.update(
            SLURM_ARRAY_JOB_ID=job_id,
            SLURM_ARRAY_TASK_ID=str(index),
            SLURM_ARRAY_TASK_COUNT=str(len(indices)),
            SLURM_ARRAY_TASK_MIN=str(min(indices)),
            SLURM_ARRAY_TASK_MAX=str(max(indices)),
        )
    return env


def write_pid_file(spool: Path) -> None:
    tmp = spool / f".{PID_NAME}.{os.getpid()}"
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, spool / PID_NAME)


def remove_pid_file(spool: Path) -> None:
    """Remove the pid file if it is this process's (a successor may have written its own)."""
    path = spool / PID_NAME
    try:
        if int(path.read_text()) == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass
