"""NightState on hand-built ledger rows and scheduler answers; and the resource notations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osa_core.model.records import Sequence
from osa_core.model.resources import (
    format_walltime,
    memory_mb,
    scale_memory,
    scale_walltime,
    walltime_seconds,
)
from osa_core.model.snapshot import NightSnapshot, SchedulerHealth
from osa_core.model.states import JobState, SequenceType
from osa_core.scheduler.base import TaskInfo
from osa_core.track.frame import Frame, Profile
from osa_core.track.ledger import StepRow, TaskRow
from osa_core.track.scope import Query, QueryScope
from osa_core.track.shown import NEVER_SATISFIED
from osa_core.track.tracking import NightState

UTC = dt.UTC
T0 = dt.datetime(2020, 1, 28, 1, 0, tzinfo=UTC)
NOW = T0 + dt.timedelta(hours=2)
PROFILE = Profile(
    name="simulate",
    simulation=True,
    step_names={SequenceType.CALIBRATION: ("drs4_baseline",), SequenceType.DATA: ("r0_to_dl1", "dl1_to_dl2")},
    step_labels={"r0_to_dl1": "R0→DL1"},
)
CAL = Sequence(0, SequenceType.CALIBRATION, 1873, 1, None, 1872)
RUN_A = Sequence(1, SequenceType.DATA, 1874, 3, 0)
RUN_B = Sequence(2, SequenceType.DATA, 1875, 2, 0)
ORPHAN = Sequence(3, SequenceType.DATA, 1876, 2, None)
SEQUENCES = [RUN_B, CAL, ORPHAN, RUN_A]  # any order: NightState sorts them


def minutes(m: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=m)


def task(
    seq: int, subrun: int, state: JobState = JobState.PENDING, attempt: int = 1, **kw: object
) -> TaskRow:
    job = kw.pop("job_id", f"{100 + seq}" if attempt == 1 else f"{100 + seq}{attempt}")
    index = kw.pop("array_index", None if seq == 0 else subrun)
    return TaskRow(seq, subrun, attempt, job, index, state, **kw)  # type: ignore[arg-type]


def info(row: TaskRow, state: JobState, **kw: object) -> TaskInfo:
    return TaskInfo(job_id=row.job_id, array_index=row.array_index, name="x", state=state, **kw)  # type: ignore[arg-type]


def step(
    seq: int, subrun: int, name: str, start: float | None, end: float | None, code: int | None, **kw: Any
) -> StepRow:
    start_at = minutes(start) if start is not None else None
    end_at = minutes(end) if end is not None else None
    return StepRow(
        seq,
        subrun,
        kw.pop("attempt", 1),
        name,
        start_at,
        end_at,
        code,
        kw.pop("skipped", False),
        "cp01",
        "101",
        kw.pop("detail", ""),
    )


def all_submitted() -> list[TaskRow]:
    return [task(0, 0)] + [task(1, i) for i in range(3)] + [task(2, i) for i in range(2)]


def snap(state: NightState, changed: set[tuple[int, int]] | None) -> NightSnapshot:
    frame = Frame(dt.date(2020, 1, 27), "local", PROFILE, SchedulerHealth(ok=True, last_ok=NOW), NOW)
    return state.snapshot(frame, changed)


# --- apply ----------------------------------------------------------------------------------------------


def test_apply_returns_only_the_rows_that_changed() -> None:
    tasks = all_submitted()
    state = NightState(SEQUENCES, tasks, [])
    cal, a0, a1 = tasks[0], tasks[1], tasks[2]
    answer = [
        info(cal, JobState.COMPLETED, exit_code=0, node="cp01", start=minutes(0), end=minutes(5)),
        info(a0, JobState.RUNNING, node="cp02", start=minutes(6)),
        info(a1, JobState.PENDING),  # as before
        TaskInfo(job_id="999", array_index=0, name="stranger", state=JobState.FAILED),  # not ours
    ]
    changed = state.apply(answer)
    assert [(r.seq, r.subrun, r.state) for r in changed] == [
        (0, 0, JobState.COMPLETED),
        (1, 0, JobState.RUNNING),
    ]
    assert changed[1].node == "cp02" and changed[1].start == minutes(6)
    assert state.latest((1, 0)) == changed[1]
    assert state.apply(answer) == []  # the same answer again changes nothing

    finished = state.apply([info(a0, JobState.COMPLETED, exit_code=0, end=minutes(9))])
    assert finished[0].node == "cp02" and finished[0].start == minutes(6)  # kept when the answer omits them
    assert finished[0].end == minutes(9)


def test_apply_matches_a_single_job_reported_with_an_index() -> None:
    cal = task(0, 0)
    state = NightState([CAL], [cal], [])
    (row,) = state.apply([TaskInfo(cal.job_id, 0, "x", JobState.RUNNING)])
    assert row.state is JobState.RUNNING


def test_apply_updates_the_attempt_the_job_belongs_to() -> None:
    first = task(1, 2, JobState.FAILED, exit_code=3)
    second = task(1, 2, JobState.PENDING, attempt=2, job_id="555", array_index=2)
    state = NightState([CAL, RUN_A], [first, second], [])
    (row,) = state.apply([info(first, JobState.FAILED, exit_code=3, reason="late news")])
    assert row.attempt == 1
    assert state.latest((1, 2)) == second
    (row,) = state.apply([info(second, JobState.RUNNING)])
    assert (row.attempt, state.latest((1, 2)).state) == (2, JobState.RUNNING)  # type: ignore[union-attr]
    assert state.active_job_ids() == {"555"}


def test_a_cancel_records_the_waiting_tasks_it_took_and_only_those() -> None:
    """Slurm never says so for an index cancelled before its array split: the engine records
    the tasks it last saw pending; a running one, a task of another job, an index not named
    and an earlier attempt wait for the scheduler's word."""
    tasks = [task(0, 0, JobState.COMPLETED)]
    tasks += [task(1, 0, JobState.RUNNING), task(1, 1), task(1, 2)]
    tasks += [task(2, 0), task(2, 1, JobState.FAILED), task(2, 1, attempt=2, job_id="777", array_index=1)]
    state = NightState(SEQUENCES, tasks, [])
    taken = state.cancelled_waiting([("101", (0, 1)), ("102", None)], NOW)
    assert sorted((i.job_id, i.array_index) for i in taken) == [("101", 1), ("102", 0)]
    rows = state.apply(taken)
    assert {(r.seq, r.subrun, r.attempt, r.state) for r in rows} == {
        (1, 1, 1, JobState.CANCELLED),
        (2, 0, 1, JobState.CANCELLED),
    }
    assert all(r.end == NOW and r.reason == "cancelled before it started" for r in rows)
    assert state.latest((1, 2)).state is JobState.PENDING  # type: ignore[union-attr]
    assert state.latest((2, 1)).state is JobState.PENDING  # type: ignore[union-attr]
    # It had started after all: the scheduler's line, when it comes, is what stands.
    (row,) = state.apply([info(tasks[2], JobState.CANCELLED, start=minutes(3), end=minutes(4))])
    assert row.start == minutes(3)


def test_the_unfinished_jobs_and_running_subruns_follow_the_answers() -> None:
    """What a refresh asks about: jobs with a task not finished, of any attempt; a finished job
    that changes again (a requeue seen by a full sweep) is asked about again."""
    tasks = all_submitted()  # job 100 (calibration), 101 (RUN_A), 102 (RUN_B)
    state = NightState(SEQUENCES, tasks, [])
    assert state.unfinished_job_ids() == {"100", "101", "102"}
    cal, a0, a1, a2, b0, b1 = tasks
    state.apply([info(cal, JobState.COMPLETED, exit_code=0), info(a0, JobState.RUNNING)])
    assert state.unfinished_job_ids() == {"101", "102"}
    assert state.running_keys() == {(1, 0)} and state.has_active()
    state.apply([info(t, JobState.COMPLETED, exit_code=0) for t in (a0, a1, a2)])
    state.apply([info(b0, JobState.FAILED, exit_code=3), info(b1, JobState.COMPLETED, exit_code=0)])
    assert state.unfinished_job_ids() == set()
    assert not state.running_keys() and not state.has_active() and not state.has_running()

    state.add_tasks([task(2, 0, attempt=2, job_id="777", array_index=0)])  # the resubmission
    assert state.unfinished_job_ids() == {"777"} and state.active_job_ids() == {"777"}
    state.apply([TaskInfo("777", 0, "x", JobState.COMPLETED, exit_code=0)])
    assert state.unfinished_job_ids() == set()

    state.apply([info(a1, JobState.PENDING, reason="BeginTime")])  # requeued after it completed
    assert state.unfinished_job_ids() == {"101"}
    assert state.latest((1, 1)).state is JobState.PENDING  # type: ignore[union-attr]


def test_the_same_answer_object_is_skipped_and_a_new_one_compared() -> None:
    tasks = all_submitted()
    state = NightState(SEQUENCES, tasks, [])
    running = info(tasks[1], JobState.RUNNING, start=minutes(1))
    assert len(state.apply([running])) == 1
    assert state.apply([running]) == []
    # a ledger row that rewrites a known task: the next answer is compared, not skipped
    state.add_tasks([tasks[1]])
    assert [r.state for r in state.apply([running])] == [JobState.RUNNING]


def test_a_refresh_asks_only_about_unfinished_jobs_and_sweeps_at_its_cadence() -> None:
    scope = QueryScope(every=dt.timedelta(minutes=10))
    assert scope.query({}, NOW) is None  # nothing submitted: nothing to ask
    scope.add("101", "LST1_01874", T0)
    scope.add("100", "LST1_01873", T0 - dt.timedelta(minutes=5))
    scope.add("102", "LST1_01875", T0 + dt.timedelta(minutes=1))
    first = scope.query(pending("101"), NOW)
    assert first is not None and first.full  # never swept: the whole night first
    assert first.job_ids == ("100", "101", "102")
    assert first.since == T0 - dt.timedelta(minutes=15)
    scope.swept(NOW)
    later = scope.query(pending("101", "102"), NOW + dt.timedelta(minutes=3))
    assert later == Query(("LST1_01874", "LST1_01875"), T0 - dt.timedelta(minutes=10), ("101", "102"), False)
    assert scope.query({}, NOW + dt.timedelta(minutes=3)) is None  # all finished: ask nothing
    assert scope.query({}, NOW + dt.timedelta(hours=3)) is None  # ... not even a sweep
    due = scope.query(pending("102"), NOW + dt.timedelta(minutes=10))
    assert due is not None and due.full
    scope.request_sweep()  # before closing
    asked = scope.query({}, NOW + dt.timedelta(minutes=3))
    assert asked is not None and asked.full and len(asked.job_ids) == 3
    scope.swept(NOW + dt.timedelta(minutes=3))
    assert scope.query({}, NOW + dt.timedelta(minutes=4)) is None


def pending(*jobs: str) -> dict[str, dict[int | None, JobState]]:
    return {job: {0: JobState.PENDING} for job in jobs}


def test_a_job_whose_unfinished_tasks_all_run_is_asked_about_those_tasks_only() -> None:
    """sacct answers ``JOB_INDEX`` ids with those tasks' lines: an array of 200 with two
    stragglers costs two tasks' lines. A task not started yet has no record of its own in the
    accounting (sacct shows ``JOB_[3-9]``): its job is asked whole, as is every job in a sweep
    and every job of a scheduler that does not take task ids."""
    scope = QueryScope(every=dt.timedelta(minutes=10))
    scope.add("101", "LST1_01874", T0, 200)
    scope.add("102", "LST1_01875", T0, 200)
    scope.add("103", "LST1_01876", T0)
    scope.add("104", "LST1_01877", T0, 3)
    scope.swept(NOW)
    unfinished: dict[str, dict[int | None, JobState]] = {
        "101": {7: JobState.RUNNING, 199: JobState.RUNNING},
        "102": {3: JobState.RUNNING, 4: JobState.PENDING},
        "103": {None: JobState.RUNNING},
        "104": {0: JobState.RUNNING, 2: JobState.RUNNING},  # most of it runs: its id is shorter
    }
    later = NOW + dt.timedelta(minutes=1)
    asked = scope.query(unfinished, later, task_ids=True)
    assert asked is not None and asked.job_ids == ("101_7", "101_199", "102", "103", "104")
    assert asked.names == ("LST1_01874", "LST1_01875", "LST1_01876", "LST1_01877")
    whole = scope.query(unfinished, later)
    assert whole is not None and whole.job_ids == ("101", "102", "103", "104")
    swept = scope.query(unfinished, later, full=True, task_ids=True)
    assert swept is not None and swept.job_ids == ("101", "102", "103", "104")


def test_the_unfinished_tasks_of_each_job_are_kept_as_rows_change() -> None:
    tasks = all_submitted()
    state = NightState(SEQUENCES, tasks, [])
    assert state.unfinished_tasks() == {
        "100": {None: JobState.PENDING},
        "101": {0: JobState.PENDING, 1: JobState.PENDING, 2: JobState.PENDING},
        "102": {0: JobState.PENDING, 1: JobState.PENDING},
    }
    state.apply([info(tasks[1], JobState.RUNNING, start=minutes(1)), info(tasks[0], JobState.COMPLETED)])
    assert state.unfinished_tasks() == {
        "101": {0: JobState.RUNNING, 1: JobState.PENDING, 2: JobState.PENDING},
        "102": {0: JobState.PENDING, 1: JobState.PENDING},
    }


# --- derived states and reasons ---------------------------------------------------------------------------


def test_never_submitted() -> None:
    state = NightState(SEQUENCES, [], [])
    status = state.subrun_status((1, 0))
    assert (status.state, status.attempt, status.job_id) == (JobState.NOT_SUBMITTED, 0, None)


def test_blocked_by_a_dependency_never_satisfied() -> None:
    state = NightState(SEQUENCES, [task(0, 0, JobState.RUNNING), task(1, 0, reason=NEVER_SATISFIED)], [])
    status = state.subrun_status((1, 0))
    assert status.state is JobState.BLOCKED
    assert status.reason == "blocked: its calibration (seq 0) failed; resubmit the calibration"


def test_blocked_by_a_failed_parent_calibration() -> None:
    tasks = [task(0, 0, JobState.FAILED, exit_code=2), task(1, 0, reason="Dependency"), task(1, 1)]
    state = NightState(SEQUENCES, tasks, [])
    assert state.calibration_failed(0)
    assert [state.subrun_status((1, i)).state for i in (0, 1)] == [JobState.BLOCKED, JobState.BLOCKED]


def test_pending_on_a_healthy_calibration_is_pending() -> None:
    tasks = [task(0, 0, JobState.RUNNING), task(1, 0, reason="Dependency")]
    status = NightState(SEQUENCES, tasks, []).subrun_status((1, 0))
    assert (status.state, status.reason) == (JobState.PENDING, "Dependency")


def test_only_pending_tasks_become_blocked() -> None:
    tasks = [task(0, 0, JobState.FAILED), task(1, 0, JobState.RUNNING), task(1, 1, JobState.COMPLETED)]
    state = NightState(SEQUENCES, tasks, [])
    assert [state.subrun_status((1, i)).state for i in (0, 1)] == [JobState.RUNNING, JobState.COMPLETED]


def test_a_resubmitted_calibration_unblocks_its_children() -> None:
    tasks = [task(0, 0, JobState.FAILED), task(0, 0, JobState.PENDING, attempt=2), task(1, 0)]
    assert NightState(SEQUENCES, tasks, []).subrun_status((1, 0)).state is JobState.PENDING


def test_failure_reason_names_the_failing_step() -> None:
    tasks = [task(1, 0, JobState.FAILED, exit_code=2)]
    steps = [
        step(1, 0, "r0_to_dl1", 0, 3, 0),
        step(1, 0, "dl1_to_dl2", 3, 4, 2, detail="Traceback (most recent call last):\nOSError: disk full"),
    ]
    status = NightState(SEQUENCES, tasks, steps).subrun_status((1, 0))
    assert status.state is JobState.FAILED
    assert status.reason == "dl1_to_dl2 exited 2: OSError: disk full"
    assert [s.name for s in status.steps] == ["r0_to_dl1", "dl1_to_dl2"]
    assert status.steps[0].seconds == 180.0
    assert status.failed_step is not None and status.failed_step.name == "dl1_to_dl2"


def test_failure_reason_of_a_step_without_detail() -> None:
    tasks = [task(1, 0, JobState.FAILED, exit_code=66)]
    status = NightState(SEQUENCES, tasks, [step(1, 0, "r0_to_dl1", 0, 0, 66)]).subrun_status((1, 0))
    assert status.reason == "r0_to_dl1 exited 66"


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (JobState.TIMEOUT, "timeout"),
        (JobState.OUT_OF_MEMORY, "out of memory"),
        (JobState.CANCELLED, "cancelled"),
    ],
)
def test_a_task_killed_inside_a_step(state: JobState, words: str) -> None:
    tasks = [task(1, 1, state, exit_code=0, signal=9)]
    steps = [step(1, 1, "r0_to_dl1", 0, 2, 0), step(1, 1, "dl1_to_dl2", 2, None, None)]
    status = NightState(SEQUENCES, tasks, steps).subrun_status((1, 1))
    assert status.reason == f"{words} during dl1_to_dl2"
    assert status.failed_step is not None and status.failed_step.name == "dl1_to_dl2"


def test_failure_without_step_records() -> None:
    status = NightState(SEQUENCES, [task(1, 0, JobState.FAILED, exit_code=1, signal=15)], []).subrun_status(
        (1, 0)
    )
    assert status.reason == "exit code 1, signal 15"
    status = NightState(
        SEQUENCES, [task(1, 0, JobState.NODE_FAIL, reason="node cp03 died")], []
    ).subrun_status((1, 0))
    assert status.reason == "node cp03 died"


def test_steps_shown_are_those_of_the_latest_attempt() -> None:
    tasks = [task(1, 0, JobState.FAILED, exit_code=3), task(1, 0, JobState.RUNNING, attempt=2, job_id="7")]
    steps = [
        step(1, 0, "r0_to_dl1", 0, 3, 0),
        step(1, 0, "dl1_to_dl2", 3, 4, 3),
        step(1, 0, "r0_to_dl1", 10, 10, 0, attempt=2, skipped=True),
        step(1, 0, "dl1_to_dl2", 10, None, None, attempt=2),
    ]
    status = NightState(SEQUENCES, tasks, steps).subrun_status((1, 0))
    assert (status.attempt, status.job_id, status.reason) == (2, "7", None)
    assert [(s.name, s.skipped, s.running) for s in status.steps] == [
        ("r0_to_dl1", True, False),
        ("dl1_to_dl2", False, True),
    ]
    assert status.attempts == ((1, "101"), (2, "7"))


# --- sequences --------------------------------------------------------------------------------------------


def test_sequence_states_and_counts() -> None:
    tasks = [
        task(0, 0, JobState.COMPLETED, start=minutes(0), end=minutes(5)),
        task(1, 0, JobState.COMPLETED, start=minutes(6), end=minutes(20)),
        task(1, 1, JobState.FAILED, exit_code=3, start=minutes(6), end=minutes(8)),
        task(1, 1, JobState.RUNNING, attempt=2, job_id="900", start=minutes(30)),
        task(1, 2, JobState.OUT_OF_MEMORY, start=minutes(7), end=minutes(9)),
        task(2, 0, JobState.COMPLETED, start=minutes(6), end=minutes(10)),
        task(2, 1, JobState.COMPLETED, start=minutes(7), end=minutes(12)),
    ]
    snapshot = snap(NightState(SEQUENCES, tasks, []), None)
    assert [s.seq for s in snapshot.sequences] == [0, 1, 2, 3]
    cal, a, b, orphan = snapshot.sequences
    assert (cal.state, cal.subruns, cal.completed, cal.end) == (JobState.COMPLETED, 1, 1, minutes(5))
    assert a.state is JobState.RUNNING
    assert dict(a.counts) == {JobState.COMPLETED: 1, JobState.RUNNING: 1, JobState.OUT_OF_MEMORY: 1}
    assert (a.completed, a.failed, a.running, a.pending) == (1, 1, 1, 0)
    assert (a.tries, a.job_id, a.start, a.end) == (2, "900", minutes(6), None)
    assert a.progress == pytest.approx(1 / 3)
    assert (b.state, b.start, b.end, b.progress, b.tries) == (
        JobState.COMPLETED,
        minutes(6),
        minutes(12),
        1.0,
        1,
    )
    assert b.elapsed(NOW) == 360.0
    assert (orphan.state, orphan.pending, orphan.tries, orphan.job_id) == (JobState.NOT_SUBMITTED, 2, 0, None)
    assert snapshot.totals == {
        JobState.COMPLETED: 4,
        JobState.RUNNING: 1,
        JobState.OUT_OF_MEMORY: 1,
        JobState.NOT_SUBMITTED: 2,
    }
    assert not snapshot.finished


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([JobState.COMPLETED] * 3, JobState.COMPLETED),
        ([JobState.COMPLETED, JobState.RUNNING, JobState.FAILED], JobState.RUNNING),
        ([JobState.COMPLETED, JobState.PENDING, JobState.FAILED], JobState.PENDING),
        ([JobState.COMPLETED, JobState.FAILED, JobState.OUT_OF_MEMORY], JobState.OUT_OF_MEMORY),
        ([JobState.COMPLETED, JobState.FAILED, JobState.TIMEOUT], JobState.TIMEOUT),
        ([JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED], JobState.FAILED),
        ([JobState.COMPLETED, JobState.CANCELLED, JobState.COMPLETED], JobState.CANCELLED),
    ],
)
def test_sequence_aggregate(states: list[JobState], expected: JobState) -> None:
    tasks = [task(0, 0, JobState.COMPLETED)] + [task(1, i, s) for i, s in enumerate(states)]
    assert snap(NightState([CAL, RUN_A], tasks, []), None).sequence(1).state is expected


def test_a_blocked_sequence_and_a_failed_one_say_why() -> None:
    tasks = [task(0, 0, JobState.FAILED, exit_code=3)] + [task(1, i) for i in range(3)]
    steps = [step(0, 0, "drs4_baseline", 0, 1, 3, detail="no pedestal events")]
    snapshot = snap(NightState([CAL, RUN_A], tasks, steps), None)
    cal, data = snapshot.sequences
    assert (cal.state, cal.reason) == (JobState.FAILED, "drs4_baseline exited 3: no pedestal events")
    assert (data.state, data.reason) == (JobState.BLOCKED, "waits on failed calibration seq 0")
    assert dict(data.counts) == {JobState.BLOCKED: 3}
    assert data.pending == 3


# --- snapshots reuse what did not change -----------------------------------------------------------------


def test_first_snapshot_lists_every_subrun_as_changed() -> None:
    snapshot = snap(NightState(SEQUENCES, all_submitted(), []), None)
    assert snapshot.changed == {(0, 0), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (3, 0), (3, 1)}
    assert snapshot.simulation and snapshot.profile == "simulate"
    assert [s.subrun for s in snapshot.subruns[1]] == [0, 1, 2]


def test_a_second_snapshot_reuses_what_did_not_change() -> None:
    tasks = all_submitted()
    state = NightState(SEQUENCES, tasks, [])
    first = snap(state, None)
    rows = state.apply([info(tasks[2], JobState.RUNNING, start=minutes(3))])  # seq 1, subrun 1
    second = snap(state, {(r.seq, r.subrun) for r in rows})
    assert second.changed == {(1, 1)}
    assert second.subruns[2] is first.subruns[2]
    assert second.subruns[3] is first.subruns[3]
    assert second.subruns[0] is first.subruns[0]
    assert second.subruns[1] is not first.subruns[1]
    assert second.subruns[1][0] is first.subruns[1][0]  # unchanged subruns are the same objects
    assert second.subruns[1][2] is first.subruns[1][2]
    assert second.subrun((1, 1)).state is JobState.RUNNING
    assert first.subrun((1, 1)).state is JobState.PENDING  # the old snapshot is untouched
    assert second.sequence(1).state is JobState.RUNNING

    third = snap(state, set())
    assert third.changed == frozenset()
    assert all(third.subruns[s] is second.subruns[s] for s in (0, 1, 2, 3))


def test_a_calibration_change_refreshes_its_children() -> None:
    tasks = all_submitted()
    state = NightState(SEQUENCES, tasks, [])
    first = snap(state, None)
    state.apply([info(tasks[0], JobState.FAILED, exit_code=3)])
    second = snap(state, {(0, 0)})
    assert second.changed == {(0, 0), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1)}
    assert second.subruns[3] is first.subruns[3]  # the orphan has no parent to wait on
    assert {s.state for s in second.subruns[1] + second.subruns[2]} == {JobState.BLOCKED}


def test_step_changes_reach_the_snapshot() -> None:
    tasks = all_submitted()
    state = NightState(SEQUENCES, tasks, [])
    first = snap(state, None)
    changed = state.add_steps([step(2, 1, "r0_to_dl1", 1, None, None)])
    assert changed == {(2, 1)}
    second = snap(state, changed)
    assert second.subrun((2, 1)).steps[0].running
    assert second.subruns[1] is first.subruns[1]


def test_a_sequence_added_between_snapshots() -> None:
    state = NightState([CAL], [task(0, 0)], [])
    snap(state, None)
    state.set_sequences([CAL, RUN_A])
    snapshot = snap(state, set())
    assert [s.state for s in snapshot.subruns[1]] == [JobState.NOT_SUBMITTED] * 3


def test_snapshot_json_has_what_status_json_promises() -> None:
    tasks = [task(0, 0, JobState.COMPLETED, exit_code=0, start=minutes(0), end=minutes(1))]
    steps = [step(0, 0, "drs4_baseline", 0, 1, 0)]
    data = snap(NightState([CAL, RUN_A], tasks, steps), None).to_json()
    assert data["date"] == "2020-01-27" and data["backend"] == "local" and data["simulation"] is True
    assert {k: data["sequences"][0][k] for k in ("seq", "type", "run", "state", "counts")} == {
        "seq": 0,
        "type": "CALIBRATION",
        "run": 1873,
        "state": "COMPLETED",
        "counts": {"COMPLETED": 1},
    }
    sub = data["subruns"][0]
    assert {k: sub[k] for k in ("run", "subrun", "state", "attempt", "exit_code")} == {
        "run": 1873,
        "subrun": 0,
        "state": "COMPLETED",
        "attempt": 1,
        "exit_code": 0,
    }
    assert sub["steps"] == [
        {"name": "drs4_baseline", "seconds": 60.0, "exit_code": 0, "skipped": False, "detail": ""}
    ]
    assert data["totals"] == {"COMPLETED": 1, "NOT_SUBMITTED": 3}


# --- resources ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("4G", 4096),
        ("4g", 4096),
        ("500M", 500),
        ("500", 500),
        (" 2T ", 2 * 1024 * 1024),
        ("1536K", 2),
        ("1.5G", 1536),
    ],
)
def test_memory_mb(text: str, mb: int) -> None:
    assert memory_mb(text) == mb


def test_scale_memory() -> None:
    assert scale_memory("4G", 1.5) == "6144M"
    assert scale_memory("500M", 1.5) == "750M"
    assert scale_memory("1000", 1.001) == "1001M"  # rounded up, never down


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30 * 60),
        ("30:15", 30 * 60 + 15),
        ("02:00:00", 7200),
        ("1-00", 86400),
        ("1-12", 86400 + 12 * 3600),
        ("2-03:04", 2 * 86400 + 3 * 3600 + 4 * 60),
        ("1-02:03:04", 86400 + 2 * 3600 + 3 * 60 + 4),
        ("48:00:00", 48 * 3600),
    ],
)
def test_walltime_seconds(text: str, seconds: int) -> None:
    assert walltime_seconds(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00:00"), (59.2, "00:01:00"), (7200, "02:00:00"), (86400, "1-00:00:00"), (93784, "1-02:03:04")],
)
def test_format_walltime(seconds: float, text: str) -> None:
    assert format_walltime(seconds) == text


def test_scale_walltime() -> None:
    assert scale_walltime("02:00:00", 1.5) == "03:00:00"
    assert scale_walltime("20:00:00", 1.5) == "1-06:00:00"
    assert scale_walltime("1-00:00:00", 2) == "2-00:00:00"
    assert scale_walltime("10", 1.5) == "00:15:00"


@given(st.integers(0, 30 * 86400))
def test_walltime_round_trip(seconds: int) -> None:
    assert walltime_seconds(format_walltime(seconds)) == seconds
