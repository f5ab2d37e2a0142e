"""A cold process's snapshot (and ``status --json``), read straight from a real ledger, is the
one a whole engine shows.

A real SQLite ledger written through :class:`Ledger` (submissions, scheduler answers, step
records), holding every case the snapshot words differently: resubmitted subruns (only the
latest attempt's steps are shown), failures said by their step, a death inside a step, blocked
tasks (by the scheduler's reason and by a failed calibration), a never-submitted run, usage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest

from osa_core.cli.status_json import status_json
from osa_core.jobs.history import StepRecord
from osa_core.model.records import Sequence
from osa_core.model.snapshot import SchedulerHealth
from osa_core.model.states import JobState, SequenceType
from osa_core.model.usage import Usage
from osa_core.track.frame import Frame, Profile
from osa_core.track.ledger import Ledger, TaskRow
from osa_core.track.ledger_snapshot import live_tasks, read_snapshot
from osa_core.track.shown import NEVER_SATISFIED
from osa_core.track.status_parts import VERSIONS
from osa_core.track.status_rows import status_rows
from osa_core.track.tracking import NightState

UTC = dt.UTC
T0 = dt.datetime(2020, 1, 28, 1, 0, tzinfo=UTC)
NOW = T0 + dt.timedelta(hours=2)
CAL = Sequence(0, SequenceType.CALIBRATION, 1873, 1, None, 1872)
RUN_A = Sequence(1, SequenceType.DATA, 1874, 4, 0)
RUN_B = Sequence(2, SequenceType.DATA, 1875, 3, 0)
CAL_2 = Sequence(3, SequenceType.CALIBRATION, 1877, 1, None, 1876)
RUN_C = Sequence(4, SequenceType.DATA, 1878, 2, 3)
RUN_D = Sequence(5, SequenceType.DATA, 1879, 2, 3)
PROFILE = Profile(
    name="simulate",
    simulation=True,
    step_names={SequenceType.CALIBRATION: ("drs4_baseline",), SequenceType.DATA: ("r0_to_dl1", "dl1_to_dl2")},
    step_labels={"r0_to_dl1": "R0→DL1"},
)
USAGE = Usage(max_rss=2_000_000_000, cpu_seconds=1500.5, req_mem=4 * 2**30, time_limit=3600.0)
ASKED = Usage(req_mem=8 * 2**30, time_limit=7200.0)
"""What a running task asked for (sacct says it before the task ends)."""


def at(minute: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minute)


def submit(ledger: Ledger, seq: int, job: str, indices: tuple[int, ...] | None, attempt: int = 1) -> None:
    sub = ledger.begin_submission(
        seq=seq,
        name=f"LST1_{seq:05d}_20200127",
        indices=indices,
        attempts=(attempt,) * (len(indices) if indices else 1),
        script=f"/work/scripts/seq{seq}.sh",
        memory="4G",
        walltime="02:00:00",
        after_ok=(),
        at=T0,
    )
    ledger.complete_submission(sub, job)


Event = tuple[str, str, int, int | None, str]
"""(event, step, minute, exit code, detail) of one step record."""


def records(seq: int, subrun: int, job: str, *events: Event) -> list[tuple[int, int, StepRecord]]:
    attempt = 2 if job == "2001" else 1
    return [
        (
            seq,
            subrun,
            StepRecord(event, step, at(m).isoformat(), attempt, "cp01", job, subrun, code, (), detail),
        )
        for event, step, m, code, detail in events
    ]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(tmp_path / "ledger_test.sqlite")
    ledger.sync_plan([CAL, RUN_A, RUN_B, CAL_2, RUN_C, RUN_D])
    submit(ledger, 0, "1000", None)
    submit(ledger, 1, "1001", (0, 1, 2, 3))
    submit(ledger, 2, "1002", (0, 1, 2))
    submit(ledger, 3, "1003", None)
    submit(ledger, 4, "1004", (0, 1))
    submit(ledger, 1, "2001", (1,), attempt=2)  # subrun 1 ran out of memory: resubmitted
    done = {"exit_code": 0, "node": "cp01", "start": at(0), "end": at(30), "usage": USAGE}
    ledger.update_tasks(
        [
            TaskRow(0, 0, 1, "1000", None, JobState.COMPLETED, **done),  # type: ignore[arg-type]
            TaskRow(1, 0, 1, "1001", 0, JobState.COMPLETED, **done),  # type: ignore[arg-type]
            TaskRow(1, 1, 1, "1001", 1, JobState.OUT_OF_MEMORY, 0, 9, "cp02", at(0), at(12), None, USAGE),
            TaskRow(1, 1, 2, "2001", 1, JobState.RUNNING, None, None, "cp03", at(40), usage=ASKED),
            TaskRow(1, 2, 1, "1001", 2, JobState.FAILED, 66, None, "cp02", at(0), at(5)),
            TaskRow(1, 3, 1, "1001", 3, JobState.FAILED, 1, 9, "cp02", at(0), at(1)),
            TaskRow(2, 0, 1, "1002", 0, JobState.PENDING, reason=NEVER_SATISFIED),
            TaskRow(2, 1, 1, "1002", 1, JobState.CANCELLED, reason="cancelled by root"),
            TaskRow(3, 0, 1, "1003", None, JobState.FAILED, 3, None, "cp01", at(0), at(2)),
        ]
    )
    ledger.add_step_records(
        records(0, 0, "1000", ("start", "drs4_baseline", 0, None, ""), ("end", "drs4_baseline", 29, 0, ""))
        + records(1, 0, "1001", ("start", "r0_to_dl1", 0, None, ""), ("end", "r0_to_dl1", 20, 0, ""))
        + records(1, 0, "1001", ("start", "dl1_to_dl2", 20, None, ""), ("end", "dl1_to_dl2", 29, 0, ""))
        + records(1, 1, "1001", ("start", "r0_to_dl1", 0, None, ""))  # died inside it
        + records(1, 1, "2001", ("skip", "dl1_datacheck", 40, None, "done by an earlier attempt"))
        + records(1, 1, "2001", ("start", "r0_to_dl1", 41, None, ""))
        + records(1, 2, "1001", ("start", "r0_to_dl1", 0, None, ""))
        + records(1, 2, "1001", ("end", "r0_to_dl1", 5, 66, "reading /raw/Run01874.0002.fits.fz\nOSError: 3"))
        + records(3, 0, "1003", ("start", "drs4_baseline", 0, None, ""), ("end", "drs4_baseline", 2, 3, "")),
        {},
    )
    yield ledger
    ledger.close()


FRAME = Frame(
    date=dt.date(2020, 1, 27),
    backend="slurm",
    profile=PROFILE,
    health=SchedulerHealth(ok=True, last_ok=NOW),
    now=NOW,
    closing=None,
    hold="held by root",
    alerts=2,
    sources={1874: "Crab"},
)


def test_the_cold_snapshot_is_the_one_a_whole_engine_shows(ledger: Ledger) -> None:
    state = NightState(ledger.sequences(), ledger.tasks(), ledger.steps())
    frame = FRAME
    whole = state.snapshot(frame, None)
    cold = read_snapshot(ledger, state.sequences, frame)
    assert cold == whole
    # What a shifter reads in it: the resubmitted subrun shows its second attempt's steps only,
    rerun = cold.subrun((1, 1))
    assert (rerun.state, rerun.attempt, rerun.attempts) == (JobState.RUNNING, 2, ((1, "1001"), (2, "2001")))
    assert [(s.name, s.skipped, s.running) for s in rerun.steps] == [
        ("dl1_datacheck", True, False),
        ("r0_to_dl1", False, True),
    ]
    # failures in the words of their step, blocked tasks, and the run never submitted.
    assert cold.subrun((1, 2)).reason == "r0_to_dl1 exited 66: OSError: 3"
    assert cold.subrun((1, 3)).reason == "exit code 1, signal 9"
    assert [cold.subrun((seq, i)).state for seq, i in ((2, 0), (4, 0), (4, 1))] == [JobState.BLOCKED] * 3
    assert [s.state for s in cold.subruns[5]] == [JobState.NOT_SUBMITTED] * 2
    assert cold.subrun((1, 0)).usage == USAGE and cold.subrun((1, 0)).steps[1].seconds == 540.0


def test_an_engine_that_shows_the_night_once_holds_only_what_a_refresh_can_change(ledger: Ledger) -> None:
    live = {(t.seq, t.subrun, t.attempt) for t in live_tasks(ledger)}
    # Jobs with an unfinished task: run B's and run C's arrays, and the rerun of (1, 1), whose
    # first attempt comes along (it tells which attempt is the latest). Finished jobs do not.
    assert live == {(1, 1, 1), (1, 1, 2), (2, 0, 1), (2, 1, 1), (2, 2, 1), (4, 0, 1), (4, 1, 1)}
    state = NightState(ledger.sequences(), live_tasks(ledger), ())
    whole = NightState(ledger.sequences(), ledger.tasks(), ledger.steps())
    assert state.unfinished_job_ids() == whole.unfinished_job_ids() == {"1002", "1004", "2001"}
    assert state.running_keys() == whole.running_keys() and state.has_active()


@pytest.mark.parametrize("minutes", [0, 45, 600])
def test_the_cold_json_is_the_one_a_whole_engine_writes(ledger: Ledger, minutes: int) -> None:
    """Every field: the head, sequence lines, efficiency, each subrun and its steps, the ETA (early
    in the night, while the rerun runs, long after), the failure groups."""
    now = NOW + dt.timedelta(minutes=minutes)
    frame = replace(FRAME, now=now)
    state = NightState(ledger.sequences(), ledger.tasks(), ledger.steps())
    expected = status_json(state.snapshot(frame, None))
    cold = plain(status_rows(ledger, state.sequences, frame))
    expected = plain(expected)
    assert cold == expected
    assert list(cold) == list(expected) and list(cold["subruns"][0]) == list(expected["subruns"][0])
    assert [g["summary"] for g in cold["failure_groups"]] == [
        "1 x exit 66 in r0_to_dl1 (node cp02): OSError: <n>",
        "1 x exit 1 (node cp02): exit code <n>, signal <n>",
        "1 x CANCELLED: cancelled by root",
        "1 x exit 3 in drs4_baseline (node cp01)",
    ]  # the out-of-memory subrun runs again: no longer a failure
    assert cold["eta"]["running"] == 1
    assert {kind: e["tasks"] for kind, e in cold["efficiency"].items()} == {"CALIBRATION": 1, "DATA": 1}


def plain(out: dict[str, Any]) -> dict[str, Any]:
    """The JSON a script reads (``subruns`` is encoded already: spliced, not rebuilt)."""
    return msgspec.json.decode(msgspec.json.encode(out))  # type: ignore[no-any-return]


def finish_the_rerun(ledger: Ledger) -> None:
    """Run A's rerun of subrun 1 completes: run A has finished (2 completed, 2 failed)."""
    ledger.update_tasks(
        [TaskRow(1, 1, 2, "2001", 1, JobState.COMPLETED, 0, None, "cp03", at(40), at(70), None, USAGE)]
    )
    ledger.add_step_records(records(1, 1, "2001", ("end", "r0_to_dl1", 69, 0, "")), {})


def whole_json(ledger: Ledger, frame: Frame) -> dict[str, Any]:
    state = NightState(ledger.sequences(), ledger.tasks(), ledger.steps())
    return plain(status_json(state.snapshot(frame, None)))


@pytest.mark.parametrize("minutes", [45, 600])
def test_finished_sequences_are_kept_and_the_json_made_from_them_is_the_same(
    ledger: Ledger, tmp_path: Path, minutes: int
) -> None:
    """A cold status keeps what each finished sequence adds (the completed and the failed
    calibration, run A once its rerun completed), and the next one made with them writes the
    same JSON as a whole engine: ETA, efficiency, failure groups, the blocked run behind the kept
    failed calibration."""
    finish_the_rerun(ledger)
    cache = tmp_path / "status-cache"
    frame = replace(FRAME, now=NOW + dt.timedelta(minutes=minutes))
    expected = whole_json(ledger, frame)
    first = plain(status_rows(ledger, ledger.sequences(), frame, cache=cache))
    assert sorted(p.name for p in cache.iterdir()) == [
        "seq00000_run01873.json",
        "seq00001_run01874.json",
        "seq00003_run01877.json",
    ]
    again = plain(status_rows(ledger, ledger.sequences(), frame, cache=cache))
    assert first == again == expected
    assert [s["state"] for s in again["subruns"] if s["seq"] == 4] == ["BLOCKED", "BLOCKED"]
    assert again["eta"]["step_medians"] and again["efficiency"]["DATA"]["tasks"] == 2


def test_a_kept_sequence_is_read_until_its_rows_change(ledger: Ledger, tmp_path: Path) -> None:
    """The kept part is what is read (a node written into the file shows), until the sequence's
    rows change: the failed calibration resubmitted and running is shown as the rows say."""
    cache = tmp_path / "status-cache"
    status_rows(ledger, ledger.sequences(), FRAME, cache=cache)
    kept = cache / "seq00003_run01877.json"
    kept.write_bytes(kept.read_bytes().replace(b'"node":"cp01"', b'"node":"written-in-the-cache"'))
    read = plain(status_rows(ledger, ledger.sequences(), FRAME, cache=cache))
    assert [s["node"] for s in read["subruns"] if s["seq"] == 3] == ["written-in-the-cache"]

    submit(ledger, 3, "2003", None, attempt=2)
    ledger.update_tasks([TaskRow(3, 0, 2, "2003", None, JobState.RUNNING, None, None, "cp05", at(50))])
    after = plain(status_rows(ledger, ledger.sequences(), FRAME, cache=cache))
    assert after == whole_json(ledger, FRAME)
    assert [(s["state"], s["node"]) for s in after["subruns"] if s["seq"] == 3] == [("RUNNING", "cp05")]


@pytest.mark.parametrize("damage", [b"", b'["torn', b"not json at all", b'{"key": 1}'])
def test_a_damaged_or_foreign_cache_file_is_made_again(ledger: Ledger, tmp_path: Path, damage: bytes) -> None:
    cache = tmp_path / "status-cache"
    status_rows(ledger, ledger.sequences(), FRAME, cache=cache)
    for kept in cache.iterdir():
        kept.write_bytes(damage)
    out = plain(status_rows(ledger, ledger.sequences(), FRAME, cache=cache))
    assert out == whole_json(ledger, FRAME)
    assert all(p.read_bytes() != damage for p in cache.iterdir())  # made again and kept


def test_an_unwritable_cache_costs_time_not_the_answer(ledger: Ledger, tmp_path: Path) -> None:
    """A shifter's account without write access to the state directory: no file, same JSON."""
    cache = tmp_path / "a-file-not-a-directory"
    cache.write_text("")
    out = plain(status_rows(ledger, ledger.sequences(), FRAME, cache=cache))
    assert out == whole_json(ledger, FRAME)


def test_the_ledger_moves_a_sequence_version_on_every_change_to_its_rows(ledger: Ledger) -> None:
    """By trigger (schema 7): a task's state, a step record; other sequences keep theirs."""
    before = dict(ledger.select(VERSIONS))
    ledger.update_tasks([TaskRow(2, 2, 1, "1002", 2, JobState.RUNNING, None, None, "cp04", at(45))])
    moved = dict(ledger.select(VERSIONS))
    assert moved[2] > before[2] and {k: v for k, v in moved.items() if k != 2} == {
        k: v for k, v in before.items() if k != 2
    }
    ledger.add_step_records(records(2, 2, "1002", ("start", "r0_to_dl1", 45, None, "")), {})
    assert dict(ledger.select(VERSIONS))[2] > moved[2]
    assert ledger.get_meta("ledger_id") and Ledger(ledger.path).get_meta("ledger_id") == ledger.get_meta(
        "ledger_id"
    )


def test_a_sequence_with_a_task_that_started_and_never_ended_is_not_kept(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Run C's two tasks: one cancelled before it started (an end, no start), one cancelled while
    it ran with no end said (its span runs to the time of the look): the sequence is finished
    but what it adds depends on the time, so each look makes it again."""
    submit(ledger, 4, "2004", (0, 1), attempt=2)
    ledger.update_tasks(
        [
            TaskRow(
                4, 0, 2, "2004", 0, JobState.CANCELLED, None, None, None, None, at(50), "cancelled by root"
            ),
            TaskRow(
                4, 1, 2, "2004", 1, JobState.CANCELLED, None, None, "cp05", at(41), None, "cancelled by root"
            ),
        ]
    )
    cache = tmp_path / "status-cache"
    for minutes in (60, 90):
        frame = replace(FRAME, now=NOW + dt.timedelta(minutes=minutes))
        assert plain(status_rows(ledger, ledger.sequences(), frame, cache=cache)) == whole_json(ledger, frame)
    assert not list(cache.glob("seq00004_*"))
