"""A night summed up from its ledger, read-only: a real ledger written by the engine's Ledger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from osa_core.model.records import Sequence
from osa_core.model.states import JobState, SequenceType
from osa_core.track.ledger import Ledger, TaskRow
from osa_core.track.nights import summarise

T0 = dt.datetime(2020, 1, 28, 1, 0, tzinfo=dt.UTC)
DATE = dt.date(2020, 1, 27)


def write(path: Path) -> None:
    ledger = Ledger(path)
    try:
        ledger.sync_plan(
            [
                Sequence(0, SequenceType.CALIBRATION, 1873, 1, None, 1872),
                Sequence(1, SequenceType.DATA, 1874, 5, 0),
            ]
        )
        for seq, indices, attempt in ((0, None, 1), (1, (0, 1, 2, 3), 1), (1, (1, 2), 2)):
            count = 1 if indices is None else len(indices)
            sub = ledger.begin_submission(
                seq=seq, name="n", indices=indices, attempts=(attempt,) * count, script="x",
                memory=None, walltime=None, after_ok=(), at=T0,
            )  # fmt: skip
            ledger.complete_submission(sub, f"{attempt}{seq}")
        done = dict(state=JobState.COMPLETED, exit_code=0, start=T0, end=T0 + dt.timedelta(minutes=5))
        ledger.update_tasks(
            [
                TaskRow(0, 0, 1, "10", None, **done),  # type: ignore[arg-type]
                TaskRow(1, 0, 1, "11", 0, **done),  # type: ignore[arg-type]
                TaskRow(1, 1, 1, "11", 1, JobState.FAILED, 3),
                TaskRow(1, 2, 1, "11", 2, JobState.OUT_OF_MEMORY),
                TaskRow(1, 3, 1, "11", 3, JobState.FAILED, 3),
                TaskRow(1, 1, 2, "21", 1, **done),  # type: ignore[arg-type]
                TaskRow(1, 2, 2, "21", 2, JobState.RUNNING, start=T0),
            ]
        )
    finally:
        ledger.close()


def test_each_subrun_counts_once_by_its_latest_attempt(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    write(path)
    summary = summarise(DATE, path, tmp_path / "no-manifest.json", None)
    assert summary.problem is None
    assert (summary.runs, summary.subruns) == (1, 6)
    # 1.1 failed then completed; 1.2 died of memory and runs again; 1.3 failed; 1.4 never submitted
    assert (summary.done, summary.failed, summary.running, summary.waiting) == (3, 1, 1, 1)
    assert summary.states == {
        JobState.COMPLETED: 3,
        JobState.FAILED: 1,
        JobState.RUNNING: 1,
        JobState.NOT_SUBMITTED: 1,
    }
    assert not summary.finished and summary.closed_at is None and summary.pushed_at is None


def test_reading_changes_nothing_in_the_ledger_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    write(path)
    before = path.read_bytes()
    assert summarise(DATE, path, tmp_path / "none.json", None).problem is None
    assert path.read_bytes() == before
    assert not (tmp_path / "other.sqlite").exists()
    missing = summarise(DATE, tmp_path / "other.sqlite", tmp_path / "none.json", None)
    assert missing.problem is not None and "no ledger" in missing.problem
    assert not (tmp_path / "other.sqlite").exists()  # never created
