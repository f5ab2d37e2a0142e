"""The night ledger: SQLite (WAL) memory of a night's plan, submissions, tasks and step records.

A killed engine restarts from it. Each mutation is one transaction; the process-level lock
(:mod:`osa_core.track.lock`) keeps two mutators apart. Within a process one connection serves every
thread (the engine works in worker threads), so each use of it holds a thread lock, and closing
waits for the statement or transaction in progress: an sqlite3 connection closed under a running
statement crashes the interpreter.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from osa_core.jobs.history import StepRecord
from osa_core.model.closestate import ClosingDatacheck, ClosingRecord, ClosingRun, RunClose, VerifiedProduct
from osa_core.model.errors import LedgerError
from osa_core.model.records import Sequence
from osa_core.model.sqlite_wal import switch_to_wal
from osa_core.model.states import SequenceType
from osa_core.track.ledger_rows import (
    TASK_COLUMNS,
    IntentRow,
    StepRow,
    SubmissionRow,
    TaskRow,
    os_user,
    task_row,
    task_values,
)
from osa_core.track.ledger_rows import from_iso as _dt
from osa_core.track.ledger_rows import to_iso as _ts
from osa_core.track.ledger_schema import SCHEMA_VERSION, create, damage, migrate

__all__ = ["SCHEMA_VERSION", "IntentRow", "Ledger", "LedgerDamaged", "StepRow", "SubmissionRow", "TaskRow"]


class LedgerDamaged(LedgerError):
    """The ledger file exists but is not a whole ledger: never read as a new night."""


class Ledger:
    def __init__(self, path: Path, rebuild_hint: str = "rebuild it with `osa-core ledger rebuild`"):
        self.path = path
        self.rebuild_hint = rebuild_hint
        self._lock = threading.RLock()
        self._closed = False
        if not path.exists():
            try:
                create(path)
            except (OSError, sqlite3.DatabaseError) as exc:
                raise LedgerError(f"cannot create the night ledger: {exc}", path=path) from None
        else:
            what = damage(path)
            if what is not None:
                raise LedgerDamaged(f"the night ledger {what}: {rebuild_hint}", path=path)
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            switch_to_wal(self._db, wait=30.0)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            with self.transaction() as db:
                migrate(db, path)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot open the night ledger: {exc}", path=path) from None

    def close(self) -> None:
        """Close the connection once no thread is using it; later use raises :class:`LedgerError`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise LedgerError("the night ledger is closed", path=self.path)
        return self._db

    @contextmanager
    def _damage_as_error(self) -> Iterator[None]:
        """A page that cannot be read (a file cut short or overwritten) is damage, said in one line."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise LedgerError(f"the night ledger stayed locked: {exc}", path=self.path) from None
            raise LedgerDamaged(
                f"the night ledger is damaged ({exc}): {self.rebuild_hint}", path=self.path
            ) from None

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock, self._damage_as_error():
            return self._open().execute(sql, args).fetchall()

    select = _rows  # a reader's own narrow SELECT (track/ledger_snapshot.py), under the same guards

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._lock, self._damage_as_error():
            return self._open().execute(sql, args).fetchone()

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """One statement in its own (autocommit) transaction; the row id it inserted, if any."""
        with self._lock, self._damage_as_error():
            return int(self._open().execute(sql, args).lastrowid or 0)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._damage_as_error():
            db = self._open()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return int(self._one("PRAGMA user_version")[0])

    # --- meta and events ------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def log_event(self, kind: str, message: str) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._write(
            "INSERT INTO events (time, kind, message, user) VALUES (?,?,?,?)", (now, kind, message, os_user())
        )

    def events(self, limit: int = 100) -> list[tuple[str, str, str]]:
        rows = self._rows("SELECT time, kind, message FROM events ORDER BY id DESC LIMIT ?", (limit,))
        return [tuple(r) for r in reversed(rows)]

    def recent_events(self, limit: int) -> list[tuple[str, str, str, str]]:
        """The last ``limit`` events, newest first: (time, kind, user, message)."""
        sql = "SELECT time, kind, user, message FROM events ORDER BY id DESC LIMIT ?"
        return [tuple(r) for r in self._rows(sql, (limit,))]

    def open_incidents(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM incidents WHERE resolved_at IS NULL")[0])

    # --- plan ---------------------------------------------------------------------------------------
    def sync_plan(self, sequences: Iterable[Sequence]) -> list[Sequence]:
        """Record sequences not yet known; a known run keeps its recorded sequence."""
        added = []
        with self.transaction() as db:
            known = {row[0] for row in db.execute("SELECT run FROM sequences")}
            for s in sequences:
                if s.run in known:
                    continue
                db.execute(
                    "INSERT INTO sequences (seq, type, run, drs4_run, subruns, parent) VALUES (?,?,?,?,?,?)",
                    (s.seq, s.type.value, s.run, s.drs4_run, s.subruns, s.parent),
                )
                added.append(s)
        return added

    def sequences(self) -> list[Sequence]:
        rows = self._rows("SELECT seq, type, run, subruns, parent, drs4_run FROM sequences ORDER BY seq")
        return [Sequence(r[0], SequenceType(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    # --- submissions ----------------------------------------------------------------------------------
    def begin_submission(
        self,
        *,
        seq: int,
        name: str,
        indices: tuple[int, ...] | None,
        attempts: tuple[int, ...],
        script: str,
        memory: str | None,
        walltime: str | None,
        after_ok: tuple[str, ...],
        at: dt.datetime,
    ) -> int:
        """Write the intent before sbatch runs: a crash after sbatch is then recoverable."""
        return self._write(
            "INSERT INTO submissions (seq, name, job_id, status, indices, attempts, submitted_at, script,"
            " memory, walltime, after_ok, user) VALUES (?,?,NULL,'submitting',?,?,?,?,?,?,?,?)",
            (
                seq,
                name,
                None if indices is None else json.dumps(list(indices)),
                json.dumps(list(attempts)),
                at.isoformat(),
                script,
                memory,
                walltime,
                json.dumps(list(after_ok)),
                os_user(),
            ),
        )

    def complete_submission(self, sub_id: int, job_id: str, note: str = "") -> None:
        """The job exists: record its id and its tasks (PENDING) in one transaction."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT seq, indices, attempts FROM submissions WHERE id = ?", (sub_id,)
            ).fetchone()
            seq, indices_json, attempts_json = row
            indices = json.loads(indices_json) if indices_json else None
            attempts = json.loads(attempts_json)
            db.execute(
                "UPDATE submissions SET job_id = ?, status = 'submitted', note = ? WHERE id = ?",
                (job_id, note, sub_id),
            )
            if indices is None:
                db.execute(
                    "INSERT OR REPLACE INTO tasks (seq, subrun, attempt, job_id, array_index, state)"
                    " VALUES (?, 0, ?, ?, NULL, 'PENDING')",
                    (seq, attempts[0], job_id),
                )
            else:
                db.executemany(
                    "INSERT OR REPLACE INTO tasks (seq, subrun, attempt, job_id, array_index, state)"
                    " VALUES (?, ?, ?, ?, ?, 'PENDING')",
                    [(seq, i, a, job_id, i) for i, a in zip(indices, attempts, strict=True)],
                )

    def abandon_submission(self, sub_id: int, note: str) -> None:
        self._write("UPDATE submissions SET status = 'lost', note = ? WHERE id = ?", (note, sub_id))

    def submissions(self, status: str | None = None) -> list[SubmissionRow]:
        query = (
            "SELECT id, seq, name, job_id, status, indices, attempts, submitted_at, script, memory,"
            " walltime, after_ok FROM submissions"
        )
        args: tuple[str, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        rows = self._rows(query + " ORDER BY id", args)
        return [
            SubmissionRow(
                id=r[0],
                seq=r[1],
                name=r[2],
                job_id=r[3],
                status=r[4],
                indices=tuple(json.loads(r[5])) if r[5] else None,
                attempts=tuple(json.loads(r[6])),
                submitted_at=dt.datetime.fromisoformat(r[7]),
                script=r[8],
                memory=r[9],
                walltime=r[10],
                after_ok=tuple(json.loads(r[11])),
            )
            for r in rows
        ]

    def earliest_submission(self) -> dt.datetime | None:
        row = self._one("SELECT MIN(submitted_at) FROM submissions")
        return _dt(row[0]) if row else None

    # --- intents of other mutations (schema 3) ------------------------------------------------
    def begin_intent(self, kind: str, payload: dict[str, Any], at: dt.datetime) -> int:
        """Write what a mutation is about to tell the scheduler, before it does."""
        return self._write(
            "INSERT INTO intents (kind, payload, begun_at, status, user) VALUES (?, ?, ?, 'open', ?)",
            (kind, json.dumps(payload), at.isoformat(), os_user()),
        )

    def finish_intent(self, intent_id: int, note: str = "") -> None:
        self._write("UPDATE intents SET status = 'done', note = ? WHERE id = ?", (note, intent_id))

    def open_intents(self) -> list[IntentRow]:
        rows = self._rows(
            "SELECT id, kind, payload, begun_at, status FROM intents WHERE status = 'open' ORDER BY id"
        )
        return [IntentRow(r[0], r[1], json.loads(r[2]), dt.datetime.fromisoformat(r[3]), r[4]) for r in rows]

    # --- tasks ---------------------------------------------------------------------------------------
    def tasks(self, job_id: str | None = None) -> list[TaskRow]:
        """Task rows, of the whole night or only of one job (what a submission just recorded)."""
        query = f"SELECT {TASK_COLUMNS} FROM tasks"
        if job_id is None:
            return [task_row(r) for r in self._rows(query + " ORDER BY seq, subrun, attempt")]
        return [
            task_row(r)
            for r in self._rows(query + " WHERE job_id = ? ORDER BY seq, subrun, attempt", (job_id,))
        ]

    def update_tasks(self, rows: Iterable[TaskRow]) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE tasks SET state = ?, exit_code = ?, signal = ?, node = ?, start = ?, end = ?,"
                " reason = ?, usage = ? WHERE seq = ? AND subrun = ? AND attempt = ?",
                [task_values(t) for t in rows],
            )

    # --- steps ---------------------------------------------------------------------------------------
    def add_step_records(
        self, records: Iterable[tuple[int, int, StepRecord]], offsets: dict[str, int]
    ) -> None:
        """Fold step records into step rows and move the history offsets, in one transaction."""
        with self.transaction() as db:
            for seq, subrun, rec in records:
                key = (seq, subrun, rec.attempt, rec.step)
                if rec.event == "start":
                    db.execute(
                        "INSERT INTO steps (seq, subrun, attempt, step, start, host, job_id) VALUES"
                        " (?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET start = excluded.start,"
                        " end = NULL, exit_code = NULL",
                        (*key, rec.time, rec.host, rec.job_id),
                    )
                elif rec.event == "end":
                    db.execute(
                        "INSERT INTO steps (seq, subrun, attempt, step, end, exit_code, host, job_id, detail)"
                        " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET end = excluded.end,"
                        " exit_code = excluded.exit_code, detail = excluded.detail",
                        (*key, rec.time, rec.exit_code, rec.host, rec.job_id, rec.detail),
                    )
                elif rec.event == "skip":
                    db.execute(
                        "INSERT OR REPLACE INTO steps (seq, subrun, attempt, step, start, end, exit_code,"
                        " skipped, host, job_id, detail) VALUES (?,?,?,?,?,?,0,1,?,?,?)",
                        (*key, rec.time, rec.time, rec.host, rec.job_id, rec.detail),
                    )
            db.executemany(
                "INSERT OR REPLACE INTO history_offsets (path, offset) VALUES (?, ?)", offsets.items()
            )

    def steps(self, keys: Iterable[tuple[int, int]] | None = None) -> list[StepRow]:
        """Step rows, of every subrun or only of ``keys``."""
        query = (
            "SELECT seq, subrun, attempt, step, start, end, exit_code, skipped, host, job_id, detail"
            " FROM steps"
        )
        if keys is None:
            rows = self._rows(query + " ORDER BY seq, subrun, attempt, rowid")
        else:
            rows = []
            for seq, subrun in sorted(set(keys)):
                rows += self._rows(
                    query + " WHERE seq = ? AND subrun = ? ORDER BY attempt, rowid", (seq, subrun)
                )
        return [
            StepRow(r[0], r[1], r[2], r[3], _dt(r[4]), _dt(r[5]), r[6], bool(r[7]), r[8], r[9], r[10])
            for r in rows
        ]

    def offsets(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self._rows("SELECT path, offset FROM history_offsets")}

    # --- closing (schema 2) -----------------------------------------------------------------------
    def begin_closing(self, runs: Iterable[ClosingRun], forced: bool, at: dt.datetime) -> None:
        """Fix the closing's set of runs (included and excluded) in one transaction."""
        with self.transaction() as db:
            db.execute("INSERT INTO closings (started, forced) VALUES (?, ?)", (at.isoformat(), int(forced)))
            for run in runs:
                db.execute(
                    "INSERT OR REPLACE INTO closing_runs (run, seq, subruns, state, attempt, job_id, jobs,"
                    " submitted_at, reason, products, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    self._closing_values(run, at),
                )

    def update_closing_run(self, run: ClosingRun) -> None:
        self._write(
            "INSERT OR REPLACE INTO closing_runs (run, seq, subruns, state, attempt, job_id, jobs,"
            " submitted_at, reason, products, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            self._closing_values(run, dt.datetime.now(dt.UTC)),
        )

    def closing_runs(self) -> list[ClosingRun]:
        rows = self._rows(
            "SELECT run, seq, subruns, state, attempt, job_id, jobs, submitted_at, reason, products"
            " FROM closing_runs ORDER BY run"
        )
        return [
            ClosingRun(
                run=r[0],
                seq=r[1],
                subruns=r[2],
                state=RunClose(r[3]),
                attempt=r[4],
                job_id=r[5],
                jobs=tuple(json.loads(r[6])),
                submitted_at=_dt(r[7]),
                reason=r[8],
                products=tuple(VerifiedProduct.from_json(p) for p in json.loads(r[9])),
            )
            for r in rows
        ]

    def closing(self) -> ClosingRecord | None:
        """The latest closing of the night, finished or not."""
        row = self._one(
            "SELECT id, started, forced, finished, summary, status, closed_at, datacheck_done,"
            " datacheck_dir, datacheck_files, datacheck_error FROM closings ORDER BY id DESC LIMIT 1"
        )
        if row is None:
            return None
        datacheck = ClosingDatacheck(row[8], row[9], row[10]) if row[7] else None
        return ClosingRecord(
            row[0],
            dt.datetime.fromisoformat(row[1]),
            bool(row[2]),
            _dt(row[3]),
            row[4],
            status=row[5],
            closed_at=_dt(row[6]),
            datacheck=datacheck,
        )

    def set_closing_status(self, closing_id: int, status: str) -> None:
        self._write("UPDATE closings SET status = ? WHERE id = ?", (status, closing_id))

    def set_closing_datacheck(self, closing_id: int, datacheck: ClosingDatacheck) -> None:
        self._write(
            "UPDATE closings SET datacheck_done = 1, datacheck_dir = ?, datacheck_files = ?,"
            " datacheck_error = ? WHERE id = ?",
            (datacheck.dir, datacheck.files, datacheck.error, closing_id),
        )

    def set_closed_at(self, closing_id: int, at: dt.datetime) -> None:
        self._write("UPDATE closings SET closed_at = ? WHERE id = ?", (at.isoformat(), closing_id))

    def finish_closing(self, closing_id: int, at: dt.datetime, summary: str) -> None:
        self._write(
            "UPDATE closings SET finished = ?, summary = ? WHERE id = ?",
            (at.isoformat(), summary, closing_id),
        )

    @staticmethod
    def _closing_values(run: ClosingRun, at: dt.datetime) -> tuple[object, ...]:
        return (
            run.run,
            run.seq,
            run.subruns,
            run.state.value,
            run.attempt,
            run.job_id,
            json.dumps(list(run.jobs)),
            _ts(run.submitted_at),
            run.reason,
            json.dumps([p.to_json() for p in run.products]),
            at.isoformat(),
        )
