"""The night ledger on a real SQLite file, and the night lock between real processes.

A real database, not a fake: a fake would only prove that the fixture and the assertion agree.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from osa_core.jobs.history import StepRecord, read_records
from osa_core.model.closestate import ClosingDatacheck
from osa_core.model.errors import LedgerError, LockBusy
from osa_core.model.records import Sequence
from osa_core.model.states import JobState, SequenceType
from osa_core.track.ledger import SCHEMA_VERSION, Ledger, StepRow, TaskRow
from osa_core.track.ledger_schema import MIGRATIONS
from osa_core.track.lock import night_lock

UTC = dt.UTC
T0 = dt.datetime(2020, 1, 28, 1, 0, tzinfo=UTC)
CAL = Sequence(0, SequenceType.CALIBRATION, 1873, 1, None, 1872)
DATA = Sequence(1, SequenceType.DATA, 1874, 4, 0)
DATA2 = Sequence(2, SequenceType.DATA, 1875, 2, 0)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "20200127" / "ledger_test.sqlite"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    ledger = Ledger(path)
    yield ledger
    ledger.close()


def begin(ledger: Ledger, seq: int, indices: tuple[int, ...] | None, attempts: tuple[int, ...]) -> int:
    return ledger.begin_submission(
        seq=seq,
        name=f"LST1_{seq:05d}_20200127",
        indices=indices,
        attempts=attempts,
        script=f"/work/scripts/seq{seq}.sh",
        memory="4G",
        walltime="02:00:00",
        after_ok=("100",) if seq else (),
        at=T0,
    )


def step_record(event: str, step: str, minute: int, attempt: int = 1, **kw: object) -> StepRecord:
    when = (T0 + dt.timedelta(minutes=minute)).isoformat()
    fields: dict[str, object] = dict(
        event=event, step=step, time=when, attempt=attempt, host="cp01", job_id="101", array_index=2
    )
    fields.update(kw)
    return StepRecord(**fields)  # type: ignore[arg-type]


# --- schema -------------------------------------------------------------------------------------------


def test_a_new_ledger_is_migrated_to_the_current_schema(ledger: Ledger, path: Path) -> None:
    assert path.exists()
    assert ledger.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"meta", "sequences", "submissions", "tasks", "steps", "history_offsets", "events"} <= tables
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        db.close()


def test_reopening_does_not_migrate_again(path: Path) -> None:
    Ledger(path).close()
    again = Ledger(path)  # CREATE TABLE twice would fail
    assert again.schema_version == SCHEMA_VERSION
    again.close()


def test_a_schema_2_closing_keeps_its_state_in_typed_columns(path: Path) -> None:
    """Schema 2 kept the closing's status, closing time and datacheck outcome (JSON) in meta."""
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    for version in (1, 2):
        db.executescript(MIGRATIONS[version])
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO closings (started, forced) VALUES ('2020-01-28T07:00:00+00:00', 1)")
    db.execute("INSERT INTO closings (started, forced) VALUES ('2020-01-28T08:00:00+00:00', 0)")
    meta = {
        "closing": "finishing: 2/2 runs merged, datacheck and flag next",
        "closing_closed_at": "2020-01-28T08:10:00+00:00",
        "closing_datacheck": '{"closing": 2, "dir": "/w/datacheck_web", "files": 7}',
        "night_file": "/n/NightSummary_20200127.txt",
    }
    db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
    db.commit()
    db.close()

    ledger = Ledger(path)
    record = ledger.closing()
    assert record is not None and record.id == 2 and not record.forced
    assert record.status == meta["closing"]
    assert record.closed_at == dt.datetime(2020, 1, 28, 8, 10, tzinfo=dt.UTC)
    assert record.datacheck == ClosingDatacheck(dir="/w/datacheck_web", files=7)
    assert record.datacheck.for_flag() == {"dir": "/w/datacheck_web", "files": 7}
    assert ledger.get_meta("closing") is None and ledger.get_meta("closing_datacheck") is None
    assert ledger.get_meta("night_file") == meta["night_file"]  # other entries stay
    ledger.close()


def test_the_closing_state_round_trips(ledger: Ledger) -> None:
    at = dt.datetime(2020, 1, 28, 7, 0, tzinfo=dt.UTC)
    ledger.begin_closing([], False, at)
    record = ledger.closing()
    assert record is not None and record.datacheck is None and record.closed_at is None
    assert record.status == ""
    ledger.set_closing_status(record.id, "merging 0/3 runs")
    ledger.set_closing_datacheck(record.id, ClosingDatacheck(error="ValueError: no plots"))
    ledger.set_closed_at(record.id, at + dt.timedelta(minutes=5))
    again = ledger.closing()
    assert again is not None and again.status == "merging 0/3 runs"
    assert again.datacheck is not None and again.datacheck.for_flag() == {"error": "ValueError: no plots"}
    assert again.closed_at == at + dt.timedelta(minutes=5)


def test_an_older_schema_is_migrated_in_place(path: Path) -> None:
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[1].split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT INTO sequences VALUES (0, 'CALIBRATION', 1873, 1872, 1, NULL)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    ledger = Ledger(path)
    assert ledger.schema_version == SCHEMA_VERSION
    assert ledger.sequences() == [CAL]
    assert ledger.closing_runs() == [] and ledger.open_intents() == []
    ledger.close()


def test_a_ledger_from_a_newer_program_is_refused_and_left_alone(path: Path) -> None:
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE future (x)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(LedgerError) as info:
        Ledger(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert f"schema {SCHEMA_VERSION + 1}" in message and "newer" in message
    assert info.value.exit_code == 6
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'tasks'").fetchone() is None
    db.close()


# --- plan and submissions -----------------------------------------------------------------------------


def test_sync_plan_keeps_what_is_known(ledger: Ledger) -> None:
    assert ledger.sync_plan([CAL, DATA]) == [CAL, DATA]
    renumbered = Sequence(7, SequenceType.DATA, 1874, 99, 0)
    assert ledger.sync_plan([CAL, renumbered, DATA2]) == [DATA2]
    assert ledger.sequences() == [CAL, DATA, DATA2]


def test_tasks_appear_only_when_a_submission_completes(ledger: Ledger) -> None:
    ledger.sync_plan([CAL, DATA])
    sub = begin(ledger, 1, (0, 2, 3), (1, 2, 1))
    (row,) = ledger.submissions()
    assert (row.id, row.status, row.job_id, row.indices, row.attempts) == (
        sub,
        "submitting",
        None,
        (0, 2, 3),
        (1, 2, 1),
    )
    assert (row.script, row.memory, row.walltime, row.after_ok, row.submitted_at) == (
        "/work/scripts/seq1.sh",
        "4G",
        "02:00:00",
        ("100",),
        T0,
    )
    assert ledger.tasks() == []
    assert ledger.earliest_submission() == T0

    ledger.complete_submission(sub, "101", note="sbatch said 101")
    (row,) = ledger.submissions("submitted")
    assert (row.job_id, row.status) == ("101", "submitted")
    assert ledger.submissions("submitting") == []
    assert ledger.tasks() == [
        TaskRow(1, 0, 1, "101", 0, JobState.PENDING),
        TaskRow(1, 2, 2, "101", 2, JobState.PENDING),
        TaskRow(1, 3, 1, "101", 3, JobState.PENDING),
    ]


def test_a_single_job_has_one_task_without_array_index(ledger: Ledger) -> None:
    sub = begin(ledger, 0, None, (1,))
    ledger.complete_submission(sub, "100")
    assert ledger.tasks() == [TaskRow(0, 0, 1, "100", None, JobState.PENDING)]
    assert ledger.submissions()[0].indices is None


def test_complete_submission_is_one_transaction(ledger: Ledger) -> None:
    sub = begin(ledger, 1, (0, 1, 2), (1, 1))  # one attempt short: the task insert fails
    with pytest.raises(ValueError):
        ledger.complete_submission(sub, "101")
    (row,) = ledger.submissions()
    assert (row.status, row.job_id) == ("submitting", None)
    assert ledger.tasks() == []


def test_an_abandoned_submission_leaves_no_tasks(ledger: Ledger) -> None:
    sub = begin(ledger, 1, (0, 1), (1, 1))
    ledger.abandon_submission(sub, "sbatch failed: partition down")
    (row,) = ledger.submissions()
    assert row.status == "lost"
    assert ledger.submissions("lost") == [row]
    assert ledger.tasks() == []


def test_update_tasks(ledger: Ledger) -> None:
    sub = begin(ledger, 1, (0, 1), (1, 1))
    ledger.complete_submission(sub, "101")
    start, end = T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=9)
    done = TaskRow(1, 0, 1, "101", 0, JobState.COMPLETED, 0, None, "cp01", start, end, None)
    oom = TaskRow(1, 1, 1, "101", 1, JobState.OUT_OF_MEMORY, 0, 9, "cp02", start, end, "OOM")
    ledger.update_tasks([done, oom])
    assert ledger.tasks() == [done, oom]
    # An update for a task that was never submitted does not invent one.
    ledger.update_tasks([TaskRow(1, 7, 1, "101", 7, JobState.FAILED)])
    assert len(ledger.tasks()) == 2


# --- step records -------------------------------------------------------------------------------------


def test_step_records_fold_into_rows_and_offsets_move(ledger: Ledger) -> None:
    history = "/night/history/Run01874.0002.history"
    ledger.add_step_records(
        [
            (1, 2, step_record("start", "r0_to_dl1", 0)),
            (1, 2, step_record("end", "r0_to_dl1", 3, exit_code=0)),
            (1, 2, step_record("start", "dl1_datacheck", 3)),
        ],
        {history: 420},
    )
    ledger.add_step_records(
        [(1, 2, step_record("end", "dl1_datacheck", 4, exit_code=2, detail="Traceback ...\nOSError"))],
        {history: 600},
    )

    def minute(m: int) -> dt.datetime:
        return T0 + dt.timedelta(minutes=m)

    assert ledger.steps() == [
        StepRow(1, 2, 1, "r0_to_dl1", minute(0), minute(3), 0, False, "cp01", "101", ""),
        StepRow(
            1, 2, 1, "dl1_datacheck", minute(3), minute(4), 2, False, "cp01", "101", "Traceback ...\nOSError"
        ),
    ]
    assert ledger.offsets() == {history: 600}


def test_skip_records_and_attempts(ledger: Ledger) -> None:
    ledger.add_step_records(
        [
            (1, 2, step_record("skip", "r0_to_dl1", 10, attempt=2, detail="done by an earlier attempt")),
            (1, 2, step_record("start", "dl1_datacheck", 10, attempt=2)),
        ],
        {},
    )
    skip, running = ledger.steps()
    assert (skip.attempt, skip.skipped, skip.exit_code, skip.start, skip.end) == (
        2,
        True,
        0,
        T0 + dt.timedelta(minutes=10),
        T0 + dt.timedelta(minutes=10),
    )
    assert (running.skipped, running.end, running.exit_code) == (False, None, None)
    assert ledger.offsets() == {}


def test_a_restarted_step_clears_its_old_end(ledger: Ledger) -> None:
    ledger.add_step_records(
        [
            (1, 0, step_record("start", "r0_to_dl1", 0)),
            (1, 0, step_record("end", "r0_to_dl1", 1, exit_code=143)),
            (1, 0, step_record("start", "r0_to_dl1", 5)),  # requeued within the same attempt
        ],
        {},
    )
    (row,) = ledger.steps()
    assert (row.start, row.end, row.exit_code) == (T0 + dt.timedelta(minutes=5), None, None)


def test_an_end_without_its_start(ledger: Ledger) -> None:
    ledger.add_step_records([(1, 0, step_record("end", "dl1_to_dl2", 7, exit_code=0))], {})
    (row,) = ledger.steps()
    assert (row.start, row.end, row.exit_code) == (None, T0 + dt.timedelta(minutes=7), 0)


def test_steps_by_key(ledger: Ledger) -> None:
    ledger.add_step_records(
        [(1, s, step_record("start", "r0_to_dl1", s)) for s in range(4)]
        + [(2, 1, step_record("start", "r0_to_dl1", 9))],
        {},
    )
    assert [(r.seq, r.subrun) for r in ledger.steps([(1, 3), (2, 1)])] == [(1, 3), (2, 1)]
    assert len(ledger.steps()) == 5


def test_a_damaged_record_never_poisons_the_ledger(ledger: Ledger, tmp_path: Path) -> None:
    history = tmp_path / "Run01874.0000.history"
    history.write_bytes(b'{"event": "start", "step": "r0_to_dl1", "time": "yesterday"}\n')
    records, offset = read_records(history)
    ledger.add_step_records([(1, 0, r) for r in records], {str(history): offset})
    ledger.steps()


# --- meta, events, and reopening ------------------------------------------------------------------------


def test_everything_survives_a_reopen(path: Path) -> None:
    ledger = Ledger(path)
    ledger.sync_plan([CAL, DATA])
    ledger.set_meta("night_file", "/raw/20200127/NightSummary_20200127.txt")
    ledger.set_meta("closing", "merging")
    ledger.set_meta("closing", "done")
    ledger.log_event("submit", "submitted LST1_01873")
    ledger.log_event("resubmit", "2 subruns of 1874")
    sub = begin(ledger, 1, (0, 1), (1, 1))
    ledger.complete_submission(sub, "101")
    lost = begin(ledger, 2, (0,), (1,))
    ledger.abandon_submission(lost, "gone")
    ledger.update_tasks([TaskRow(1, 0, 1, "101", 0, JobState.RUNNING, node="cp01", start=T0)])
    ledger.add_step_records([(1, 0, step_record("start", "r0_to_dl1", 0))], {"/h": 99})
    before = (ledger.sequences(), ledger.submissions(), ledger.tasks(), ledger.steps(), ledger.offsets())
    ledger.close()

    again = Ledger(path)
    assert (again.sequences(), again.submissions(), again.tasks(), again.steps(), again.offsets()) == before
    assert again.get_meta("night_file") == "/raw/20200127/NightSummary_20200127.txt"
    assert again.get_meta("closing") == "done"
    assert again.get_meta("absent") is None
    assert [(kind, message) for _, kind, message in again.events()] == [
        ("submit", "submitted LST1_01873"),
        ("resubmit", "2 subruns of 1874"),
    ]
    assert [kind for _, kind, _ in again.events(limit=1)] == ["resubmit"]
    again.close()


def test_a_second_connection_sees_committed_work(path: Path) -> None:
    writer, reader = Ledger(path), Ledger(path)
    sub = begin(writer, 1, (0,), (1,))
    writer.complete_submission(sub, "101")
    assert [t.job_id for t in reader.tasks()] == ["101"]
    writer.close()
    reader.close()


# --- the night lock, between processes ------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from osa_core.track.lock import night_lock
with night_lock(Path(sys.argv[1]), what="submit"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
print("released", flush=True)
"""


def hold(lock: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    return tmp_path / "state" / "mutation_test.lock"


def test_a_busy_lock_waits_then_names_its_holder(lock: Path) -> None:
    holder = hold(lock, 30)
    try:
        started = time.monotonic()
        with pytest.raises(LockBusy) as info, night_lock(lock, wait=0.5, what="resubmit"):
            pytest.fail("got a lock another process holds")
        waited = time.monotonic() - started
        assert 0.5 <= waited < 5
        message = str(info.value)
        assert message.startswith(f"{lock}: another process holds the night's lock")
        assert f"pid {holder.pid} on {os.uname().nodename}: submit" in message
        assert "resubmit was not started" in message
        assert info.value.exit_code == 7
    finally:
        holder.kill()
        holder.wait()


def test_a_waiter_gets_the_lock_when_the_holder_finishes(lock: Path) -> None:
    holder = hold(lock, 0.5)
    try:
        started = time.monotonic()
        with night_lock(lock, wait=10, what="cancel"):
            assert time.monotonic() - started >= 0.2
            assert lock.read_text() == f"pid {os.getpid()} on {os.uname().nodename}: cancel\n"
        assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_dies_with_its_holder(lock: Path) -> None:
    holder = hold(lock, 60)
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=10) == -signal.SIGKILL
    started = time.monotonic()
    with night_lock(lock, wait=5, what="submit"):
        assert time.monotonic() - started < 4  # taken, not waited for until the 5-s deadline
    # ... and this process released it on leaving the block.
    again = hold(lock, 0)
    assert again.wait(timeout=10) == 0


# --- threads ----------------------------------------------------------------------------------------

CLOSE_UNDER_READERS = """
import sys, threading
from pathlib import Path
from osa_core.model.errors import LedgerError
from osa_core.track.ledger import Ledger, TaskRow
from osa_core.model.records import Sequence
from osa_core.model.states import JobState, SequenceType

ledger = Ledger(Path(sys.argv[1]))
ledger.sync_plan([Sequence(n, SequenceType.DATA, 2000 + n, 200, None) for n in range(50)])
outcomes = []

def read():
    try:
        while True:
            ledger.sequences()
            ledger.tasks()
    except LedgerError as exc:
        outcomes.append(str(exc))

threads = [threading.Thread(target=read) for _ in range(3)]
for t in threads:
    t.start()
ledger.close()
for t in threads:
    t.join(timeout=30)
print(len(outcomes), outcomes[0] if outcomes else "")
"""


def test_closing_while_other_threads_read_is_clean(tmp_path: Path) -> None:
    """The console closes the engine's ledger on exit while a refresh may be reading it in a worker
    thread; an sqlite3 connection closed under a running statement used to crash the interpreter.
    Run in a child so that a crash fails this test instead of the whole session."""
    for round_ in range(5):
        done = subprocess.run(
            [sys.executable, "-c", CLOSE_UNDER_READERS, str(tmp_path / f"ledger{round_}.sqlite")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        count, _, message = done.stdout.strip().partition(" ")
        assert count == "3"
        assert message.endswith("the night ledger is closed")
